"""Model name resolution: our composed backbone × loss models first, then RecBole's own models
(through the backbone adapter, :mod:`.adapter`, when a loss is set)."""

from __future__ import annotations

import inspect

import recbole.model.general_recommender as recbole_general
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import get_model as recbole_get_model

from .adapter import ADAPTED_MODELS, adapted_model, refusal
from .backbones import BACKBONES, Backbone
from .composed import COMPOSED, LossRecommender
from .lightgcnpp import CONFIG_CHECKS as LIGHTGCNPP_CONFIG_CHECKS
from .simgcl import CONFIG_CHECKS as SIMGCL_CONFIG_CHECKS
from .xsimgcl import CONFIG_CHECKS as XSIMGCL_CONFIG_CHECKS

__all__ = ["ADAPTED_MODELS", "BACKBONES", "COMPOSED", "Backbone", "LossRecommender", "adaptable_models",
           "available_backbones", "available_models", "model_config_checks", "resolve_model"]

# key -> rule (recbole_losses.losses._checks.Rule) of the models that check their own config keys.
_CONFIG_CHECKS = {"XSimGCL": XSIMGCL_CONFIG_CHECKS, "SimGCL": SIMGCL_CONFIG_CHECKS,
                  "LightGCN++": LIGHTGCNPP_CONFIG_CHECKS}


def model_config_checks(name) -> dict:
    """The rules of model ``name``'s own config keys, checked when its Config is built ({} for none)."""
    return _CONFIG_CHECKS.get(name, {})

_BACKBONE_NAMES = {k.lower(): name for name, b in BACKBONES.items() for k in (name, *b.aliases)}
_BACKBONE_NAMES_EXACT = {k for b in BACKBONES.values() for k in (b.name, *b.aliases)}


def _recbole_general_models() -> list[str]:
    return sorted(
        name
        for name, obj in vars(recbole_general).items()
        if inspect.isclass(obj) and issubclass(obj, GeneralRecommender) and obj is not GeneralRecommender
    )


def available_backbones() -> list[str]:
    """The models a loss can train (``--model`` with ``--loss``), from ``BACKBONES``."""
    return sorted(BACKBONES)


def adaptable_models() -> list[str]:
    """RecBole's general recommenders a loss trains through the adapter (ours take precedence
    where both exist: BPR is our MF, LightGCN and NGCF ours)."""
    return sorted(name for name in _recbole_general_models() if refusal(name) is None and name not in _BACKBONE_NAMES_EXACT)


def available_models() -> dict[str, list[str]]:
    return {"with a loss": available_backbones(), "with a loss, through the adapter": adaptable_models(),
            "without a loss (RecBole general models)": _recbole_general_models()}


def _choices() -> str:
    return (
        f"backbones usable with a loss: {', '.join(available_backbones())}; through the adapter: "
        f"{', '.join(adaptable_models())}; RecBole general models: {', '.join(_recbole_general_models())}"
    )


def resolve_model(name, loss: str | None) -> type:
    """The model class for ``--model=name``: with a loss, the composed backbone × loss class —
    ours (``BACKBONES``: MF, LightGCN, NGCF, XSimGCL, SimGCL, LightGCN++) where we have one, else
    RecBole's model through the adapter (:func:`.adapter.adapted_model`; a model that cannot be
    trained by a loss is refused with the reason); without one, the stock model — RecBole's own
    class when RecBole has it (``MF`` means RecBole's ``BPR``), else ours (XSimGCL, SimGCL,
    LightGCN++). The model's log line says which class runs."""
    if inspect.isclass(name):
        return name
    backbone = _BACKBONE_NAMES.get(str(name).lower())
    if loss is not None and backbone is not None:
        return COMPOSED[backbone]
    stock = _recbole_model(("BPR" if backbone == "MF" else backbone) or _recbole_general_name(str(name)))
    if stock is None and backbone is not None:
        stock = BACKBONES[backbone].recbole_class
    if stock is None:
        raise ValueError(f"unknown model {name!r}; valid choices: {_choices()}")
    if loss is not None:
        if not (inspect.isclass(stock) and issubclass(stock, GeneralRecommender)):
            raise ValueError(f"model {name!r} cannot be trained with a loss: it is not a general recommender; "
                             f"valid choices: {_choices()}")
        return adapted_model(stock)
    return stock


def _recbole_general_name(name: str) -> str:
    """RecBole's spelling of a general recommender's name given in any case (``ncl`` -> ``NCL``)."""
    return {n.lower(): n for n in _recbole_general_models()}.get(name.lower(), name)


def _recbole_model(name: str) -> type | None:
    try:
        return recbole_get_model(name)
    except (ModuleNotFoundError, ValueError, AttributeError):
        # RecBole's lookup of an unknown name imports exlib_recommender, which needs lightgbm and
        # xgboost, and fails with "No module named 'lightgbm'"; we answer with the real problem.
        return None
