r"""LambdaRank, LambdaLoss and LambdaLoss@K: BPR weighted by lambda weights of the pair's ranks.

References: Burges et al., "Learning to Rank with Nonsmooth Cost Functions", NeurIPS 2006, and
Burges, "From RankNet to LambdaRank to LambdaMART: An Overview", 2010 (LambdaRank); Wang et al.,
"The LambdaLoss Framework for Ranking Metric Optimization", CIKM 2018 (LambdaLoss); Jagerman et
al., "On Optimizing Top-K Metrics for Neural Ranking Models", SIGIR 2022 (LambdaLoss@K), in the
form of the SL@K paper (Yang et al., KDD 2025, App. A, Eqs. A.1-A.3). Reference code:
Tiny-Snow/IR-Benchmark ``optim_LambdaRank.py``, ``optim_LambdaLoss.py``, ``optim_LambdaLossAtK.py``
(full-catalogue ranks, one negative; see docs/losses.md for where they differ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_bool, check_int
from ._ranks import candidate_ranks, dcg_discount
from .base import RankingLoss
from .registry import register_loss


class LambdaWeightedBPR(RankingLoss):
    r"""The shared part: ℓ = (1/N) Σ_j μ(π_ui, π_uj) · softplus(r_uj − r_ui) with the lambda
    weight μ of the subclass, computed without gradient from the candidates' ranks.

    Ranks π are positions (1 = highest score) among the row's candidates: the positive, its N
    negatives and its M sampled positives when given. Ties are broken against the positive
    (a tied negative or sampled positive is ranked above it) and among negatives by their order,
    which leaves the loss unchanged under any permutation of the negatives. With ``rescale`` and
    after :meth:`setup`, ranks estimate the full-catalogue rank of I items:
    π̂ = 1 + (π − 1)·max(1, (I − 1)/(C − 1)), C = 1 + N + M.
    """

    default_score = "dot"

    def __init__(self, rescale: bool = True):
        super().__init__()
        self.rescale = check_bool(self.name, "rescale", rescale)
        self.n_items: int | None = None

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.n_items = int(n_items)

    def ranks(self, pos_score: torch.Tensor, neg_score: torch.Tensor, sampled_pos_score=None):
        """(π_ui [B], π_uj [B, N]): the positive's and the negatives' ranks among the row's
        candidates, rescaled to the catalogue when :attr:`rescale` and the item count are set."""
        n_items = self.n_items if self.rescale else None
        return candidate_ranks(pos_score, neg_score, sampled_pos_score, n_items)

    def lambda_weight(self, pos_rank: torch.Tensor, neg_rank: torch.Tensor) -> torch.Tensor:
        """μ [B, N] from the positive's ranks [B, 1] and the negatives' [B, N]."""
        raise NotImplementedError

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, **context):
        pos_rank, neg_rank = self.ranks(pos_score, neg_score, sampled_pos_score)
        weight = self.lambda_weight(pos_rank.unsqueeze(1), neg_rank)  # [B, N], no gradient
        return (weight * F.softplus(neg_score - pos_score.unsqueeze(1))).mean(dim=1)  # [B]


def _eta(gap: torch.Tensor) -> torch.Tensor:
    """η = 1/log2(1 + |π_i − π_j|) − 1/log2(2 + |π_i − π_j|): LambdaLoss's δ_ij (gap ≥ 1)."""
    return dcg_discount(gap) - dcg_discount(gap + 1.0)


@register_loss
class LambdaRank(LambdaWeightedBPR):
    r"""BPR weighted by the change of DCG when the positive and the negative swap ranks.

    .. math::
        \ell_{ui} = \frac{1}{N}\sum_{j=1}^{N} \mu_{uij}\,\operatorname{softplus}(r_{uj} - r_{ui}),
        \qquad \mu_{uij} = \Big|\frac{1}{\log_2(1 + \pi_{ui})} - \frac{1}{\log_2(1 + \pi_{uj})}\Big|

    π: ranks among the row's candidates (positive, negatives, sampled positives), estimating the
    full-catalogue ranks when ``rescale`` is on and :meth:`setup` gave the item count; the
    weights carry no gradient.

    Note: a heuristic, not a bound of DCG (Wang et al., 2018). Default score: dot product.
    Args (defaults in the signature): rescale, a bool.
    """

    name = "LambdaRank"
    prefix = "lambdarank_"

    def lambda_weight(self, pos_rank, neg_rank):
        return (dcg_discount(pos_rank) - dcg_discount(neg_rank)).abs()


@register_loss
class LambdaLoss(LambdaWeightedBPR):
    r"""BPR weighted by LambdaLoss's δ_ij, which makes it a bound of DCG.

    .. math::
        \ell_{ui} = \frac{1}{N}\sum_{j=1}^{N} \eta_{uij}\,\operatorname{softplus}(r_{uj} - r_{ui}),
        \qquad \eta_{uij} = \frac{1}{\log_2(1 + |\pi_{ui} - \pi_{uj}|)} - \frac{1}{\log_2(2 + |\pi_{ui} - \pi_{uj}|)}

    π: ranks among the row's candidates as in :class:`LambdaRank`; the weights carry no gradient.

    Note: the positive and a negative never share a rank (ties are broken), so |π_ui − π_uj| ≥ 1
    and η is finite. Default score: dot product. Args (defaults in the signature): rescale, a bool.
    """

    name = "LambdaLoss"
    prefix = "lambdaloss_"

    def lambda_weight(self, pos_rank, neg_rank):
        return _eta((pos_rank - neg_rank).abs())


@register_loss
class LambdaLossAtK(LambdaWeightedBPR):
    r"""LambdaLoss with the top-K truncation of DCG@K: pairs reaching below rank K are reweighted.

    .. math::
        \ell_{ui} = \frac{1}{N}\sum_{j=1}^{N} \mu_{uij}\,\operatorname{softplus}(r_{uj} - r_{ui}),
        \qquad \mu_{uij} = \begin{cases}
            \eta_{uij} \big(1 - 1/\log_2(1 + \pi_{uij})\big)^{-1} & \pi_{uij} = \max(\pi_{ui}, \pi_{uj}) > K \\
            \eta_{uij} & \text{otherwise}
        \end{cases}

    with LambdaLoss's η_uij; π: ranks among the row's candidates as in :class:`LambdaRank`.

    Note: with K at least the largest possible rank (C = 1 + N + M candidates, or the item count
    when rescaled) it is LambdaLoss. π_uij > K ≥ 1 makes π_uij ≥ 2, so the factor is at most
    1/(1 − 1/log2 3) ≈ 2.71. Default score: dot product.
    Args (defaults in the signature): k >= 1; rescale, a bool.
    """

    name = "LambdaLoss@K"
    prefix = "lambdalossatk_"
    aliases = ("LambdaLossAtK",)

    def __init__(self, k: int = 20, rescale: bool = True):
        super().__init__(rescale=rescale)
        self.k = check_int(self.name, "k", k, 1)

    def lambda_weight(self, pos_rank, neg_rank):
        eta = _eta((pos_rank - neg_rank).abs())
        deepest = torch.maximum(pos_rank, neg_rank).expand_as(eta)
        truncated = eta / (1.0 - dcg_discount(deepest))
        return torch.where(deepest > self.k, truncated, eta)
