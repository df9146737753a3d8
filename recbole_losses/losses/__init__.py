"""The loss library: score tensors in, a scalar out; nothing here knows RecBole."""

from .base import SCORE_FUNCTIONS, RankingLoss
from .bpr import BPR
from .cw import CW
from .psl import PSL
from .registry import LOSSES, available_losses, build_loss, canonical_loss_name, get_loss_class, register_loss
from .sl import SL

__all__ = [
    "BPR",
    "CW",
    "LOSSES",
    "PSL",
    "SCORE_FUNCTIONS",
    "SL",
    "RankingLoss",
    "available_losses",
    "build_loss",
    "canonical_loss_name",
    "get_loss_class",
    "register_loss",
]
