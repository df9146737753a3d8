r"""CCL: the cosine contrastive loss of SimpleX.

Reference: Mao et al., "SimpleX: A Simple and Strong Baseline for Collaborative Filtering",
CIKM 2021. Reference code: the DrRL authors' ``optimizer/optim_CCL.py``
(cynthia-shengjia/AAAI-2025-DrRL), which produced the CCL rows of the DrRL tables; RecBole's
``SimpleX`` model computes the same loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_interval, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class CCL(RankingLoss):
    r"""A hinge on the positive and a margin-truncated mean over the negatives.

    .. math:: \ell_{ui} = \operatorname{relu}(1 - r_{ui})
              + w \cdot \frac{1}{N}\sum_{j=1}^{N} \operatorname{relu}(r_{uj} - m)

    Note: only negatives scoring above the margin m contribute. It is DrRL's γ → ∞ limit (with
    DrRL's margin fixed at m and c = w, up to the additive constant m + ε). Default score: cosine,
    so the positive hinge is 1 − r_ui. Args (defaults in the signature, the DrRL
    code's values; SimpleX/RecBole use m = 0.5, w = 10): margin m in [−1, 1]; neg_weight w > 0.
    """

    name = "CCL"
    prefix = "ccl_"
    default_score = "cos"

    def __init__(self, margin: float = 0.5, neg_weight: float = 10.0):
        super().__init__()
        self.margin = check_interval(self.name, "margin", margin, -1.0, 1.0)
        self.neg_weight = check_positive(self.name, "neg_weight", neg_weight)

    def row_loss(self, pos_score, neg_score, **context):
        pos = F.relu(1.0 - pos_score)  # [B]
        neg = F.relu(neg_score - self.margin).mean(dim=1)  # [B]
        return pos + self.neg_weight * neg
