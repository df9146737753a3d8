r"""SL: sampled softmax loss with the positive left out of the denominator.

Reference: Wu et al., "On the Effectiveness of Sampled Softmax Loss for Item Recommendation",
TOIS 2024. Reference code: Tiny-Snow/IR-Benchmark ``optim_Softmax.py`` (the SL of the PSL, SL@K
and CW tables).
"""

from __future__ import annotations

import torch

from ._checks import check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class SL(RankingLoss):
    r"""Softmax over the sampled negatives, in pairwise form.

    .. math:: \ell_{ui} = \log \sum_{j=1}^{N} \exp(d_{uij} / \tau), \qquad d_{uij} = r_{uj} - r_{ui}

    Note: equals PSL with the ``exp`` activation, CW with β = 0, τ⁺ = 0 and ``exp``, and BSL with
    τ1 = τ2. Default score: cosine. Args (defaults in the signature): tau > 0.
    """

    name = "SL"
    prefix = "sl_"
    aliases = ("Softmax",)
    default_score = "cos"

    def __init__(self, tau: float = 0.1):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)

    def row_loss(self, pos_score, neg_score, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        return torch.logsumexp(d / self.tau, dim=1)  # [B]
