"""Name → loss class registry. Names are matched case-insensitively; aliases resolve to the
canonical name (``SLatK`` → ``SL@K``). A loss's config keys are ``<prefix><param>``: a prefix
that starts another loss's prefix or a setting that is not a loss's (:func:`reserve_keys`) is
refused at registration, so every key belongs to one owner."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

LOSSES: dict[str, type] = {}
_ALIASES: dict[str, str] = {}
_RESERVED: list[Callable[[], Iterable[str]]] = []


def _prefix_problem(cls: type) -> str | None:
    """Why ``cls.prefix`` cannot be registered, or None."""
    prefix = getattr(cls, "prefix", None)
    suggestion = re.sub(r"\W", "", str(cls.name).lower()) + "_"
    if not isinstance(prefix, str) or not prefix:
        return f"prefix must be a non-empty string such as {suggestion!r}, got {prefix!r}"
    for other in LOSSES.values():
        if other.name != cls.name and (other.prefix.startswith(prefix) or prefix.startswith(other.prefix)):
            return (f"prefix {prefix!r} overlaps loss {other.name}'s prefix {other.prefix!r} (the keys of one would "
                    "be read as the other's); choose a prefix that neither starts nor is started by another loss's")
    for keys in _RESERVED:
        taken = sorted(key for key in keys() if key.startswith(prefix))
        if taken:
            shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
            return (f"prefix {prefix!r} starts the config key(s) {shown} of RecBole or recbole-losses, which would "
                    "be read as the loss's own keys; choose a prefix no setting starts with"
                    + ("" if any(k.startswith(suggestion) for k in keys()) else f", such as {suggestion!r}"))
    return None


def register_loss(cls: type) -> type:
    """Class decorator: register ``cls`` under ``cls.name`` and every name in ``cls.aliases``;
    KeyError for a name already taken, ValueError for a prefix that cannot be (see module)."""
    names = (cls.name, *cls.aliases)
    for key in names:
        taken = _ALIASES.get(key.lower())
        if taken is not None and taken != cls.name:
            raise KeyError(f"loss name {key!r} is already taken by {taken}")
    problem = _prefix_problem(cls)
    if problem is not None:
        raise ValueError(f"loss {cls.name}: {problem}")
    _ALIASES.update({key.lower(): cls.name for key in names})
    LOSSES[cls.name] = cls
    return cls


def reserve_keys(keys: Callable[[], Iterable[str]]) -> None:
    """Declare the config keys that are no loss's (``keys()`` is read at every registration): a
    loss whose prefix starts one of them is refused. The losses registered so far are checked now
    (ValueError naming the first that collides)."""
    _RESERVED.append(keys)
    for cls in LOSSES.values():
        problem = _prefix_problem(cls)
        if problem is not None:
            _RESERVED.remove(keys)
            raise ValueError(f"loss {cls.name}: {problem}")


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
