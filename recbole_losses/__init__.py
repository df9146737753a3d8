"""recbole-losses: modern ranking losses for RecBole, on any embedding backbone.

``recbole_losses.LOSSES`` / ``build_loss`` give the losses alone (score tensors in, a scalar out);
``recbole_losses.run`` trains a RecBole model with one (``Run``: the same, step by step, as an
object that closes what it opens); ``Config`` is RecBole's configurator with the plugin's names
and defaults. Importing the package applies :mod:`recbole_losses.compat` once
(RecBole needs its patches when it runs, not when it is imported).
"""

from . import compat, output
from .config import Config
from .losses import LOSSES, RankingLoss, available_losses, build_loss, register_loss
from .models import available_models, resolve_model
from .quick_start import load_data_and_model, run
from .runner import Run

compat.apply_all()
output.install()

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "Config",
    "RankingLoss",
    "Run",
    "available_losses",
    "available_models",
    "build_loss",
    "load_data_and_model",
    "register_loss",
    "resolve_model",
    "run",
]
