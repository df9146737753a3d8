r"""BSL: the Bilateral Softmax Loss.

Reference: Wu et al., "BSL: Understanding and Improving Softmax Loss for Recommendation",
ICDE 2024. Reference code: Tiny-Snow/IR-Benchmark ``optim_BSL.py`` (the BSL of the PSL and SL@K
tables; the default here) and the authors' junkangwu/BSL ``utils/losses.py`` (whose positive-side
log-mean-exp the ``positives="sampled"`` option follows).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_positive
from .base import RankingLoss
from .registry import register_loss

POSITIVE_SIDES = ("anchor", "sampled")


@register_loss
class BSL(RankingLoss):
    r"""SL with its own temperature on each side.

    .. math:: \ell_{ui} = -\log \frac{1}{|P|}\sum_{k \in P} e^{r_{uk}/\tau_1}
              + \frac{\tau_2}{\tau_1} \log \sum_{j=1}^{N} e^{r_{uj}/\tau_2}

    computed as ``(τ2/τ1)·logsumexp_j(d_j/τ2) − log_mean_exp_k((r_uk − r_ui)/τ1)``.
    ``positives="anchor"`` (IR-Benchmark): P = {i}, the row's positive, so the second
    term vanishes and ℓ = (τ2/τ1)·SL_{τ2}; with τ1 = τ2 it *is* SL (same floating-point
    operations). ``positives="sampled"``: P = {i} ∪ the M sampled training positives (the
    bilateral, positive-side log-mean-exp of the BSL paper and authors' code).

    Note: in the anchor form BSL is SL(τ2) scaled by τ2/τ1; under Adam a constant loss scale
    barely changes training, so τ2 is what matters. Default score: cosine (full-cosine τ scale,
    as the SL@K paper). Args (defaults in the signature): tau1 > 0, tau2 > 0,
    positives in anchor, sampled.
    """

    name = "BSL"
    prefix = "bsl_"
    default_score = "cos"

    def __init__(self, tau1: float = 0.1, tau2: float = 0.1, positives: str = "anchor"):
        super().__init__()
        self.tau1 = check_positive(self.name, "tau1", tau1)
        self.tau2 = check_positive(self.name, "tau2", tau2)
        self.positives = check_choice(self.name, "positives", positives, POSITIVE_SIDES)

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        loss = (self.tau2 / self.tau1) * torch.logsumexp(d / self.tau2, dim=1)  # [B]
        if self.positives == "anchor":
            return loss
        if sampled_pos_score is None:
            raise ValueError("BSL: positives='sampled' needs sampled_pos_score [B, M] (set pos_num >= 1)")
        # The anchor itself is one of the |P| = M + 1 positives; its term is exp(0) = 1.
        d_pos = sampled_pos_score - pos_score.unsqueeze(1)  # [B, M]
        d_pos = torch.cat([torch.zeros_like(pos_score).unsqueeze(1), d_pos], dim=1)  # [B, M + 1]
        return loss - (torch.logsumexp(d_pos / self.tau1, dim=1) - math.log(d_pos.shape[1]))
