"""Hyperparameter checks shared by the losses: each raises ValueError naming the loss, the
parameter, the value received and the valid range or choices."""

from __future__ import annotations

from collections.abc import Iterable


def check_positive(loss: str, name: str, value) -> float:
    value = _number(loss, name, value)
    if not value > 0:
        raise ValueError(f"{loss}: {name} must be > 0, got {value!r}")
    return value


def check_nonnegative(loss: str, name: str, value) -> float:
    value = _number(loss, name, value)
    if not value >= 0:
        raise ValueError(f"{loss}: {name} must be >= 0, got {value!r}")
    return value


def check_half_open_unit(loss: str, name: str, value) -> float:
    """Value in [0, 1)."""
    value = _number(loss, name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{loss}: {name} must be in [0, 1), got {value!r}")
    return value


def check_open_unit(loss: str, name: str, value) -> float:
    """Value in (0, 1)."""
    value = _number(loss, name, value)
    if not 0 < value < 1:
        raise ValueError(f"{loss}: {name} must be in (0, 1), got {value!r}")
    return value


def check_choice(loss: str, name: str, value, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{loss}: {name} must be one of {choices}, got {value!r}")
    return value


def _number(loss: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{loss}: {name} must be a number, got {value!r}")
    return float(value)
