"""Name → loss class registry. Names are matched case-insensitively; aliases resolve to the
canonical name (``SLatK`` → ``SL@K``)."""

from __future__ import annotations

import difflib

LOSSES: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


def register_loss(cls: type) -> type:
    """Class decorator: register ``cls`` under ``cls.name`` and every name in ``cls.aliases``."""
    for key in (cls.name, *cls.aliases):
        taken = _ALIASES.get(key.lower())
        if taken is not None and taken != cls.name:
            raise KeyError(f"loss name {key!r} is already taken by {taken}")
        _ALIASES[key.lower()] = cls.name
    LOSSES[cls.name] = cls
    return cls


def available_losses() -> list[str]:
    return sorted(LOSSES)


def canonical_loss_name(name: str) -> str:
    """The registered name for ``name`` (any case, or an alias); ValueError listing the choices."""
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown loss {name!r}; valid choices: {', '.join(available_losses())}")
    return key


def get_loss_class(name: str) -> type:
    return LOSSES[canonical_loss_name(name)]


def build_loss(name: str, **params):
    """Construct a registered loss by name with its unprefixed hyperparameters,
    e.g. ``build_loss("CW", tau=0.1, beta=0.8, tau_plus=0.1, activation="relu")``; ValueError
    naming a parameter the loss does not have (with the closest ones and the valid ones)."""
    cls = get_loss_class(name)
    valid = cls.param_names()
    unknown = [p for p in params if p not in valid]
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown hyperparameter {unknown[0]!r} for loss {cls.name}{hint}; "
                         f"valid: {', '.join(valid) or '(none)'}")
    return cls(**params)
