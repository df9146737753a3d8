"""Model name resolution: our composed backbone × loss models first, then RecBole's own models."""

from __future__ import annotations

import inspect

import recbole.model.general_recommender as recbole_general
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import get_model as recbole_get_model

from .backbones import BACKBONES, Backbone
from .composed import COMPOSED, LossRecommender

__all__ = ["BACKBONES", "COMPOSED", "Backbone", "LossRecommender", "available_models", "resolve_model"]

_BACKBONE_NAMES = {k.lower(): name for name, b in BACKBONES.items() for k in (name, *b.aliases)}


def _recbole_general_models() -> list[str]:
    return sorted(
        name
        for name, obj in vars(recbole_general).items()
        if inspect.isclass(obj) and issubclass(obj, GeneralRecommender) and obj is not GeneralRecommender
    )


def available_models() -> dict[str, list[str]]:
    return {"with a loss": sorted(BACKBONES), "without a loss (RecBole general models)": _recbole_general_models()}


def _choices() -> str:
    return (
        f"backbones usable with a loss: {', '.join(sorted(BACKBONES))}; "
        f"RecBole general models: {', '.join(_recbole_general_models())}"
    )


def resolve_model(name, loss: str | None) -> type:
    """The model class for ``--model=name``: with a loss, the composed backbone × loss class;
    without one, the stock RecBole model (``MF`` means RecBole's ``BPR``)."""
    if inspect.isclass(name):
        return name
    backbone = _BACKBONE_NAMES.get(str(name).lower())
    if loss is not None:
        if backbone is None:
            raise ValueError(f"model {name!r} cannot be trained with a loss; valid choices: {_choices()}")
        return COMPOSED[backbone]
    if backbone is not None:
        return BACKBONES[backbone].recbole_class
    try:
        return recbole_get_model(str(name))
    except (ModuleNotFoundError, ValueError, AttributeError):
        # RecBole's lookup of an unknown name imports exlib_recommender, which needs lightgbm and
        # xgboost, and fails with "No module named 'lightgbm'"; answer with the real problem.
        raise ValueError(f"unknown model {name!r}; valid choices: {_choices()}") from None
