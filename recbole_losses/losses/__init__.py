"""The loss library: score tensors in, a scalar out; nothing here knows RecBole."""

from .advinfonce import AdvInfoNCE
from ..scoring import SCORE_FUNCTIONS
from .base import RankingLoss
from .bpr import BPR
from .bsl import BSL
from .ccl import CCL
from .cw import CW
from .drrl import DrRL
from .llpauc import LLPAUC
from .psl import PSL
from .registry import LOSSES, available_losses, build_loss, canonical_loss_name, get_loss_class, register_loss
from .sl import SL
from .slatk import SLatK

__all__ = [
    "BPR",
    "BSL",
    "CCL",
    "CW",
    "AdvInfoNCE",
    "DrRL",
    "LLPAUC",
    "LOSSES",
    "PSL",
    "SCORE_FUNCTIONS",
    "SL",
    "SLatK",
    "RankingLoss",
    "available_losses",
    "build_loss",
    "canonical_loss_name",
    "get_loss_class",
    "register_loss",
]
