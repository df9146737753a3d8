r"""Talos: a softmax-like surrogate of Precision@K with learned per-user top-K thresholds.

Reference: Zhang et al., "Talos: Optimizing Top-K Accuracy in Recommender Systems", WWW 2026
(Eqs. 3.3 and 3.7). Reference code: cynthia-shengjia/WWW-2026-Talos ``optimizer/optim_QR.py``
(see docs/losses.md for where the estimate of its quantile loss differs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_int, check_number, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class Talos(RankingLoss):
    r"""SL with the exponential replaced by sigmoid(· − β_u)^{1/τ}, plus the sampled quantile
    regression that learns the per-user threshold β_u.

    .. math::
        \ell_{ui} = \log \sum_{j=1}^{N} \sigma(r_{uj} - \bar\beta_u)^{1/\tau}
            - \frac{1}{\tau}\log \sigma(r_{ui} - \bar\beta_u) + Q_{ui}(\beta_u)

        Q_{ui}(\beta) = \frac{1}{I}\Big(\frac{|P_u|}{M + 1}\sum_{k \in \{i\} \cup S_{ui}} \rho_K(r_{uk} - \beta)
            + \frac{I - |P_u|}{N}\sum_{j=1}^{N} \rho_K(r_{uj} - \beta)\Big),
        \qquad \rho_K(x) = (1 - K/I)\,x_+ + (K/I)\,(-x)_+

    σ is the sigmoid; β̄_u is β_u without gradient, and Q sees the scores without gradient, so the
    first part trains the model and Q trains only β_u (its minimiser is the top-K quantile of u's
    scores over the I items). S_ui are the row's M sampled positives, |P_u| the user's number of
    training items (from :meth:`attach`; 1 + M without it). β_u, a parameter per user started
    at ``beta_init``, is trained by the model's optimiser at learning rate ``beta_lr`` without
    weight decay.

    Note: before :meth:`setup` or without ``user``, β = ``beta_init`` and there is no Q; with
    β = 0 and sigmoid replaced by exp, the first part is SL. Default score: cosine.
    Args (defaults in the signature): tau > 0; k >= 1; beta_lr > 0; beta_init any number.
    """

    name = "Talos"
    prefix = "talos_"
    default_score = "cos"

    def __init__(self, tau: float = 0.15, k: int = 20, beta_lr: float = 0.001, beta_init: float = 0.0):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.k = check_int(self.name, "k", k, 1)
        self.beta_lr = check_positive(self.name, "beta_lr", beta_lr)
        self.beta_init = check_number(self.name, "beta_init", beta_init)
        self.n_items: int | None = None
        self.beta: nn.Parameter | None = None
        self.register_buffer("pos_count", None, persistent=False)  # [n_users] |P_u|

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.n_items = int(n_items)
        self.beta = nn.Parameter(torch.full((n_users,), self.beta_init, dtype=torch.float32, device=item_counts.device))

    def attach(self, *, scorer, train_user: torch.Tensor, train_item: torch.Tensor) -> None:
        if self.beta is None:
            return
        pairs = torch.unique(train_user.long() * self.n_items + train_item.long())
        count = torch.bincount(pairs // self.n_items, minlength=self.beta.shape[0])
        self.pos_count = count.to(device=self.beta.device, dtype=torch.float32)

    def optimizer_groups(self, *, lr: float, weight_decay: float) -> list[dict]:
        if self.beta is None:
            return []
        return [{"params": [self.beta], "lr": self.beta_lr, "weight_decay": 0.0}]

    def quantile_loss(self, beta, pos_score, neg_score, sampled_pos_score, user) -> torch.Tensor:
        """Q_ui(β) [B] of the docstring, from the scores without gradient."""
        positives = pos_score.detach().unsqueeze(1)
        if sampled_pos_score is not None:
            positives = torch.cat([positives, sampled_pos_score.detach()], dim=1)  # [B, 1 + M]
        negatives = neg_score.detach()  # [B, N]
        n_items = float(self.n_items)
        if self.pos_count is not None:
            n_pos = self.pos_count[user].to(beta.dtype)  # [B]
        else:
            n_pos = torch.full_like(beta, float(positives.shape[1]))
        share = min(1.0, self.k / n_items)  # K / I

        def rho(x):
            return (1.0 - share) * F.relu(x) + share * F.relu(-x)

        beta = beta.unsqueeze(1)
        pos_part = n_pos * rho(positives - beta).mean(dim=1)
        neg_part = (n_items - n_pos).clamp(min=0.0) * rho(negatives - beta).mean(dim=1)
        return (pos_part + neg_part) / n_items

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, user=None, **context):
        if self.beta is not None and user is not None:
            beta = self.beta[user].to(pos_score.dtype)  # [B]
            quantile = self.quantile_loss(beta, pos_score, neg_score, sampled_pos_score, user)
            threshold = beta.detach()
        else:
            quantile = torch.zeros_like(pos_score)
            threshold = torch.full_like(pos_score, self.beta_init)
        pos_term = F.logsigmoid(pos_score - threshold) / self.tau  # [B]
        neg_term = torch.logsumexp(F.logsigmoid(neg_score - threshold.unsqueeze(1)) / self.tau, dim=1)  # [B]
        return neg_term - pos_term + quantile
