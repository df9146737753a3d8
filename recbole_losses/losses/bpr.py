r"""BPR: Bayesian Personalised Ranking over N negatives.

Reference: Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import RankingLoss
from .registry import register_loss


@register_loss
class BPR(RankingLoss):
    r"""Pairwise logistic loss, averaged over the row's negatives.

    .. math:: \ell_u = \frac{1}{N}\sum_{j=1}^{N} \operatorname{softplus}(r_{uj} - r_{ui})
              = -\frac{1}{N}\sum_j \log\sigma(r_{ui} - r_{uj})

    Note: with N = 1 this is RecBole's ``BPRLoss`` without its 1e-10 inside the log.
    Default score: dot product. No hyperparameters.
    """

    name = "BPR"
    prefix = "bpr_"
    default_score = "dot"

    def __init__(self):
        super().__init__()

    def row_loss(self, pos_score, neg_score, **context):
        return F.softplus(neg_score - pos_score.unsqueeze(1)).mean(dim=1)  # [B]
