"""The loss library: score tensors in, a scalar out; nothing here knows RecBole.

Every module of this package other than ``base``, ``registry`` and the private ``_*`` ones
defines a loss class decorated with :func:`register_loss`. Importing the package imports each of
them (:func:`loss_modules`), so a new loss needs only its module here, its YAML defaults in
``properties/loss/`` and its tests: it is then built by name (:func:`build_loss`), importable from
here by class name (``from recbole_losses.losses import CW``) and listed by
:func:`available_losses`.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..scoring import SCORE_FUNCTIONS
from ._checks import (
    check_above,
    check_bool,
    check_choice,
    check_half_open_unit,
    check_int,
    check_interval,
    check_interval_or_choice,
    check_nonnegative,
    check_number,
    check_open_unit,
    check_positive,
)
from .base import RankingLoss
from .registry import LOSSES, available_losses, build_loss, canonical_loss_name, get_loss_class, register_loss

INFRASTRUCTURE_MODULES = ("base", "registry")


def loss_modules() -> list[str]:
    """Names of the modules of this package that define losses."""
    return sorted(
        m.name for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name not in INFRASTRUCTURE_MODULES
    )


for _module in loss_modules():
    importlib.import_module(f"{__name__}.{_module}")
globals().update({cls.__name__: cls for cls in LOSSES.values()})

__all__ = [
    "LOSSES",
    "SCORE_FUNCTIONS",
    "RankingLoss",
    "available_losses",
    "build_loss",
    "canonical_loss_name",
    "check_above",
    "check_bool",
    "check_choice",
    "check_half_open_unit",
    "check_int",
    "check_interval",
    "check_interval_or_choice",
    "check_nonnegative",
    "check_number",
    "check_open_unit",
    "check_positive",
    "get_loss_class",
    "loss_modules",
    "register_loss",
    *sorted(cls.__name__ for cls in LOSSES.values()),
]
