"""Model name resolution: our composed backbone × loss models first, then RecBole's own models."""

from __future__ import annotations

import inspect

import recbole.model.general_recommender as recbole_general
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import get_model as recbole_get_model

from .backbones import BACKBONES, Backbone
from .composed import COMPOSED, LossRecommender
from .xsimgcl import CONFIG_CHECKS as XSIMGCL_CONFIG_CHECKS

__all__ = ["BACKBONES", "COMPOSED", "Backbone", "LossRecommender", "available_backbones", "available_models",
           "model_config_checks", "resolve_model"]

# key -> rule (recbole_losses.losses._checks.Rule) of the models that check their own config keys.
_CONFIG_CHECKS = {"XSimGCL": XSIMGCL_CONFIG_CHECKS}


def model_config_checks(name) -> dict:
    """The rules of model ``name``'s own config keys, checked when its Config is built ({} for none)."""
    return _CONFIG_CHECKS.get(name, {})

_BACKBONE_NAMES = {k.lower(): name for name, b in BACKBONES.items() for k in (name, *b.aliases)}


def _recbole_general_models() -> list[str]:
    return sorted(
        name
        for name, obj in vars(recbole_general).items()
        if inspect.isclass(obj) and issubclass(obj, GeneralRecommender) and obj is not GeneralRecommender
    )


def available_backbones() -> list[str]:
    """The models a loss can train (``--model`` with ``--loss``), from ``BACKBONES``."""
    return sorted(BACKBONES)


def available_models() -> dict[str, list[str]]:
    return {"with a loss": available_backbones(), "without a loss (RecBole general models)": _recbole_general_models()}


def _choices() -> str:
    return (
        f"backbones usable with a loss: {', '.join(available_backbones())}; "
        f"RecBole general models: {', '.join(_recbole_general_models())}"
    )


def resolve_model(name, loss: str | None) -> type:
    """The model class for ``--model=name``: with a loss, the composed backbone × loss class;
    without one, the stock model — RecBole's own class when RecBole has it (``MF`` means
    RecBole's ``BPR``), else ours (XSimGCL)."""
    if inspect.isclass(name):
        return name
    backbone = _BACKBONE_NAMES.get(str(name).lower())
    if loss is not None and backbone is not None:
        return COMPOSED[backbone]
    stock = _recbole_model(("BPR" if backbone == "MF" else backbone) or str(name))
    if stock is None and backbone is not None:
        stock = BACKBONES[backbone].recbole_class
    if stock is None:
        raise ValueError(f"unknown model {name!r}; valid choices: {_choices()}")
    if loss is not None:
        raise ValueError(f"model {name!r} cannot be trained with a loss; valid choices: {_choices()}")
    return stock


def _recbole_model(name: str) -> type | None:
    try:
        return recbole_get_model(name)
    except (ModuleNotFoundError, ValueError, AttributeError):
        # RecBole's lookup of an unknown name imports exlib_recommender, which needs lightgbm and
        # xgboost, and fails with "No module named 'lightgbm'"; we answer with the real problem.
        return None
