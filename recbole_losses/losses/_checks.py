"""The validation vocabulary of hyperparameters: one function per kind of constraint, each
returning the checked value or raising ValueError as ``"<owner>: <name> must be <rule>, got
<value>"`` (the owner is the loss or model, the name its parameter). Numbers come back as float,
integers and choices unchanged. Every loss checks its arguments with these, and nothing else."""

from __future__ import annotations

import math
from collections.abc import Iterable


def check_number(owner: str, name: str, value) -> float:
    """Any int or float (not a bool, not a string holding a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    return float(value)


def check_above(owner: str, name: str, value, bound: float = 0.0, *, inclusive: bool = False,
                finite: bool = False) -> float:
    """A number > ``bound`` (>= with ``inclusive``), and not infinite with ``finite``."""
    value = check_number(owner, name, value)
    ok = value >= bound if inclusive else value > bound
    if not ok or (finite and math.isinf(value)):
        rule = f"{'>=' if inclusive else '>'} {bound:g}" + (" and finite" if finite else "")
        raise ValueError(f"{owner}: {name} must be {rule}, got {value!r}")
    return value


def check_positive(owner: str, name: str, value) -> float:
    """A number > 0."""
    return check_above(owner, name, value, 0.0)


def check_nonnegative(owner: str, name: str, value) -> float:
    """A number >= 0."""
    return check_above(owner, name, value, 0.0, inclusive=True)


def _interval(low: float, high: float, closed: str) -> tuple[bool, bool, str]:
    """Which ends belong to the interval, and its text: ``[low, high)`` for ``closed="left"``."""
    if closed not in ("both", "left", "right", "neither"):
        raise ValueError(f"closed must be one of ['both', 'left', 'right', 'neither'], got {closed!r}")
    left, right = closed in ("both", "left"), closed in ("both", "right")
    return left, right, f"{'[' if left else '('}{low:g}, {high:g}{']' if right else ')'}"


def _within(value: float, low: float, high: float, left: bool, right: bool) -> bool:
    return (value >= low if left else value > low) and (value <= high if right else value < high)


def check_interval(owner: str, name: str, value, low: float, high: float, *, closed: str = "both") -> float:
    """A number in the interval from ``low`` to ``high``; ``closed`` names the ends that belong
    to it: ``both`` [low, high], ``left`` [low, high), ``right`` (low, high], ``neither`` (low, high)."""
    left, right, interval = _interval(low, high, closed)
    value = check_number(owner, name, value)
    if not _within(value, low, high, left, right):
        raise ValueError(f"{owner}: {name} must be in {interval}, got {value!r}")
    return value


def check_interval_or_choice(owner: str, name: str, value, low: float, high: float, choices: Iterable[str], *,
                             closed: str = "both") -> float | str:
    """One of the strings ``choices`` (a string is checked as :func:`check_choice`), or a number in
    the interval (as :func:`check_interval`)."""
    choices = list(choices)
    left, right, interval = _interval(low, high, closed)
    if isinstance(value, str):
        return check_choice(owner, name, value, choices)
    if not isinstance(value, bool) and isinstance(value, (int, float)) and _within(value, low, high, left, right):
        return float(value)
    options = " or ".join(repr(c) for c in choices)
    raise ValueError(f"{owner}: {name} must be in {interval} or {options}, got {value!r}")


def check_half_open_unit(owner: str, name: str, value) -> float:
    """A number in [0, 1)."""
    return check_interval(owner, name, value, 0.0, 1.0, closed="left")


def check_open_unit(owner: str, name: str, value) -> float:
    """A number in (0, 1)."""
    return check_interval(owner, name, value, 0.0, 1.0, closed="neither")


def check_int(owner: str, name: str, value, minimum: int, maximum: int | None = None, *,
              maximum_name: str | None = None) -> int:
    """An int (not a bool) >= ``minimum`` and, when given, <= ``maximum`` (``maximum_name``: the
    setting the maximum comes from, named in the message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
        maximum is not None and value > maximum
    ):
        if maximum is None:
            rule = f">= {minimum}"
        else:
            rule = f"in [{minimum}, {f'{maximum_name} = ' if maximum_name else ''}{maximum}]"
        raise ValueError(f"{owner}: {name} must be an integer {rule}, got {value!r}")
    return value


def check_bool(owner: str, name: str, value) -> bool:
    """True or False (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return value


def check_choice(owner: str, name: str, value, choices: Iterable[str]) -> str:
    """One of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {choices}, got {value!r}")
    return value
