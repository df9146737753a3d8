r"""PSL: Pairwise Softmax Loss.

Reference: Yang et al., "PSL: Rethinking and Improving Softmax Loss from Pairwise Perspective for
Recommendation", NeurIPS 2024. Reference code: Tiny-Snow/IR-Benchmark ``optim_PSL.py``.
"""

from __future__ import annotations

import torch

from ..functional import ACTIVATIONS, log_weighted_activation_sum
from ._checks import check_choice, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class PSL(RankingLoss):
    r"""SL with the exponential replaced by a surrogate activation σ, temperature outside.

    .. math:: \ell_{ui} = \log \sum_{j=1}^{N} \sigma(d_{uij})^{1/\tau}, \qquad d_{uij} = r_{uj} - r_{ui}

    computed as ``logsumexp_j(log σ(d_uij) / τ)``. σ: relu(d+1), tanh(d)+1, atan(d)+1 or exp(d)
    (exp gives SL). Default score: half cosine, so d ∈ [−1, 1].
    Args (defaults in the signature): tau > 0; activation in relu, tanh, atan, exp (the default,
    relu, is the PSL variant reported in the SL@K and CW tables).
    """

    name = "PSL"
    prefix = "psl_"
    default_score = "half_cos"

    def __init__(self, tau: float = 0.1, activation: str = "relu"):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.activation = check_choice(self.name, "activation", activation, ACTIVATIONS)

    def row_loss(self, pos_score, neg_score, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        return log_weighted_activation_sum(d, self.tau, 0.0, self.activation)  # [B]
