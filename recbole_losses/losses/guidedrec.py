r"""GuidedRec: binary cross-entropy guided by a learned estimate of the row's DCG.

Reference: Rashed, Grabocka, Schmidt-Thieme, "A Guided Learning Approach for Item Recommendation
via Surrogate Loss Learning", SIGIR 2021, in the form the SL@K paper tunes it (Yang et al., KDD
2025, App. D.4; reference code Tiny-Snow/IR-Benchmark ``optim_GuidedRec.py``). See
docs/losses.md for the choices and where they differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_int, check_nonnegative, check_positive
from ._ranks import candidate_ranks, dcg_discount
from .base import RankingLoss
from .registry import register_loss


@register_loss
class GuidedRec(RankingLoss):
    r"""BCE plus the maximisation of a surrogate network's estimate of the row's DCG; the
    surrogate is trained at the same step to fit the true DCG.

    .. math::
        \ell_{ui} = N\,\operatorname{softplus}(-r_{ui}) + \sum_{j=1}^{N} \operatorname{softplus}(r_{uj})
            - \lambda\, \hat D_{\bar\theta}(s_{ui}, s_{u1..N}),
        \qquad s = \operatorname{sigmoid}(r)

        \hat D_\theta = \operatorname{sigmoid}\Big(w_3^\top \tanh\big(W_2 \tfrac{1}{N}
            \textstyle\sum_j \tanh(W_1 [s_{ui}, s_{uj}] + b_1) + b_2\big) + b_3\Big),
        \qquad D_{ui} = \frac{1}{\log_2(1 + \pi_{ui})}

    with π_ui the rank of the positive among the row's 1 + N candidates (ties against the
    positive). θ̄ is the surrogate's parameters without gradient: the model's scores get the
    gradient of ℓ. The surrogate's parameters θ (``hidden`` units, :attr:`surrogate`) get only
    the gradient of the squared error (D̂_θ(s̄) − D_ui)² on the scores without gradient, through
    a term of value zero, so the returned value is ℓ. They form their own optimiser group
    (:meth:`optimizer_groups`: learning rate ``surrogate_lr``, or the model's when None, and the
    model's weight decay). The M sampled positives are not used.

    Note: the BCE part is IR-Benchmark's (positive weighted by N, one-to-one with the negatives);
    IR-Benchmark takes three optimiser steps per batch (BCE, surrogate, estimated DCG), we take
    one with both gradients. Default score: cosine. Args (defaults in the signature):
    guidance_weight λ >= 0; hidden >= 1; surrogate_lr > 0 or None.
    """

    name = "GuidedRec"
    prefix = "guidedrec_"
    default_score = "cos"

    def __init__(self, guidance_weight: float = 1.0, hidden: int = 20, surrogate_lr: float | None = None):
        super().__init__()
        self.guidance_weight = check_nonnegative(self.name, "guidance_weight", guidance_weight)
        self.hidden = check_int(self.name, "hidden", hidden, 1)
        self.surrogate_lr = check_positive(self.name, "surrogate_lr", surrogate_lr, none=True)
        self.surrogate = nn.ModuleDict({
            "pair": nn.Linear(2, self.hidden),  # W1, b1: one (positive, negative) pair
            "mix": nn.Linear(self.hidden, self.hidden),  # W2, b2: the mean over the row's pairs
            "out": nn.Linear(self.hidden, 1),  # w3, b3
        })

    def optimizer_groups(self, *, lr: float, weight_decay: float) -> list[dict]:
        own_lr = self.surrogate_lr if self.surrogate_lr is not None else lr
        return [{"params": list(self.surrogate.parameters()), "lr": own_lr, "weight_decay": weight_decay}]

    def estimated_dcg(self, pos_score: torch.Tensor, neg_score: torch.Tensor, *, train_surrogate: bool) -> torch.Tensor:
        """D̂ [B] from the scores. ``train_surrogate`` False: the surrogate's parameters without
        gradient, computed in the scores' dtype (the model-facing pass); True: the scores without
        gradient, in the parameters' dtype (the surrogate's pass)."""
        if train_surrogate:
            dtype = self.surrogate["out"].weight.dtype
            pos_score, neg_score = pos_score.detach().to(dtype), neg_score.detach().to(dtype)
        layers = [self.surrogate[k] for k in ("pair", "mix", "out")]
        (w1, b1), (w2, b2), (w3, b3) = (
            (layer.weight, layer.bias) if train_surrogate
            else (layer.weight.detach().to(pos_score.dtype), layer.bias.detach().to(pos_score.dtype))
            for layer in layers
        )
        s_pos, s_neg = torch.sigmoid(pos_score), torch.sigmoid(neg_score)  # [B], [B, N]
        # W1 [s_ui, s_uj] + b1 without materialising the [B, N, 2] pairs.
        pair = torch.addcmul((s_pos.unsqueeze(-1) * w1[:, 0] + b1).unsqueeze(1), s_neg.unsqueeze(-1), w1[:, 1])  # [B, N, H]
        pooled = torch.tanh(pair).mean(dim=1)  # [B, H]
        return torch.sigmoid(F.linear(torch.tanh(F.linear(pooled, w2, b2)), w3, b3)).squeeze(-1)  # [B]

    @staticmethod
    def true_dcg(pos_score: torch.Tensor, neg_score: torch.Tensor) -> torch.Tensor:
        """D [B]: 1/log2(1 + π_ui), π_ui the positive's rank among its row's 1 + N candidates."""
        pos_rank, _ = candidate_ranks(pos_score, neg_score)
        return dcg_discount(pos_rank)

    def row_loss(self, pos_score, neg_score, **context):
        n = neg_score.shape[1]
        bce = n * F.softplus(-pos_score) + F.softplus(neg_score).sum(dim=1)  # [B]
        guidance = self.estimated_dcg(pos_score, neg_score, train_surrogate=False)  # [B]
        fit = (self.estimated_dcg(pos_score, neg_score, train_surrogate=True)
               - self.true_dcg(pos_score, neg_score).to(self.surrogate["out"].weight.dtype)).square()  # [B]
        # Value zero, gradient ∇θ of the squared error: the surrogate learns from the same backward.
        surrogate_term = (fit - fit.detach()).to(pos_score.dtype)
        return bce - self.guidance_weight * guidance + surrogate_term
