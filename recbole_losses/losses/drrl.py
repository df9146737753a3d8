r"""DrRL: the Distributionally Robust Rényi Loss.

Reference: Zhang et al., "Distributionally Robust Rényi Loss for Recommendation" (DrRL),
AAAI 2025, Eq. 10 (Lemma 2). Reference code: the authors' cynthia-shengjia/AAAI-2025-DrRL
``optimizer/optim_DrRL.py`` (the default here: its positive hinge, ε and per-user margin update).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_above, check_nonnegative, check_number, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class DrRL(RankingLoss):
    r"""CCL's truncation with a polynomial (power-mean) weighting and a learned per-user margin.

    .. math::
        \ell_{ui} = \operatorname{relu}(1 - r_{ui}) + \beta_u
            + \Big(\frac{1}{N}\sum_{j=1}^{N} \big(\varepsilon + c\,(r_{uj} - \beta_u)_+\big)^{\gamma^*}\Big)^{1/\gamma^*},
        \qquad \gamma^* = \frac{\gamma}{\gamma - 1}

    with c = c_γ(η) and ε = 0 exactly Eq. 10 (the positive term −r_ui there; relu(1 − r_ui) has
    the same gradient for cosine scores). β_u, a per-user buffer started at ``margin_init``, is
    the argmin of the same objective (Eq. 10's constraint): after every optimiser step one SGD
    step of size ``margin_lr`` on Σ_rows [β_u + power mean] with the batch's (detached) negative
    scores, summed over the rows, so a user with several rows gets several contributions (the
    authors' update). The model's loss uses β_u detached.

    Note: γ → ∞ (γ* → 1) gives CCL with margin β_u and weight c (plus β_u + ε); γ → 1 with β_u
    at its optimum and c = c_γ(η) gives the KL-DRO, i.e. SL's softmax weighting (tests show
    both). The power mean is computed as exp(log_mean_exp(γ*·log x)/γ*), stable for any γ*;
    entries x = 0 (ε = 0, below the margin) get zero gradient. Before :meth:`setup`, or without
    ``user``, β = ``margin_init`` for every row. Default score: cosine.
    Args (defaults in the signature, the authors' code's values): gamma > 1 (the code's ω);
    c > 0 (the code's neg_coefficient); eps >= 0; margin_init, any number; margin_lr >= 0
    (0 keeps the margins fixed).
    """

    name = "DrRL"
    prefix = "drrl_"
    default_score = "cos"
    step_state = {"margin": "sum"}  # combined across ranks after every step (base class)

    def __init__(
        self,
        gamma: float = 150.0,
        c: float = 10.0,
        eps: float = 0.1,
        margin_init: float = 0.7,
        margin_lr: float = 1e-3,
    ):
        super().__init__()
        self.gamma = check_above(self.name, "gamma", gamma, 1.0, finite=True)
        self.c = check_positive(self.name, "c", c)
        self.eps = check_nonnegative(self.name, "eps", eps)
        self.margin_init = check_number(self.name, "margin_init", margin_init)
        self.margin_lr = check_nonnegative(self.name, "margin_lr", margin_lr)
        self.register_buffer("margin", None)  # [n_users] β_u, persistent: checkpoints hold it
        self._pending = None

    @property
    def gamma_star(self) -> float:
        return self.gamma / (self.gamma - 1.0)

    # -- state --------------------------------------------------------------------------------

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.margin = torch.full((n_users,), self.margin_init, dtype=torch.float32, device=item_counts.device)

    def margin_objective(self, neg_score: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Per row, β + power mean over the negatives: the part of ℓ that depends on β [B]."""
        return beta + self._power_mean(neg_score, beta)

    def margin_step(self, neg_score: torch.Tensor, user: torch.Tensor) -> None:
        """One SGD step on β[user] for Σ_rows margin_objective(neg_score (detached), β_user)."""
        if self.margin is None or self.margin_lr == 0.0:
            return
        with torch.enable_grad():
            beta = self.margin[user].to(neg_score.dtype).requires_grad_()
            objective = self.margin_objective(neg_score.detach(), beta).sum()
            (grad,) = torch.autograd.grad(objective, beta)
        with torch.no_grad():
            self.margin.index_add_(0, user, grad.to(self.margin.dtype), alpha=-self.margin_lr)

    def after_step(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.margin_step(*pending)

    # -- loss ---------------------------------------------------------------------------------

    def row_loss(self, pos_score, neg_score, *, user=None, **context):
        if self.margin is not None and user is not None:
            beta = self.margin[user].to(neg_score.dtype)  # [B], detached: a buffer
            if self.training and torch.is_grad_enabled() and self.margin_lr > 0:
                self._pending = (neg_score.detach(), user)
        else:
            beta = torch.full_like(pos_score, self.margin_init)
        return F.relu(1.0 - pos_score) + self.margin_objective(neg_score, beta)

    def _power_mean(self, neg_score: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        p = self.gamma_star
        x = self.eps + self.c * F.relu(neg_score - beta.unsqueeze(1))  # [B, N], >= 0
        log_x = torch.log(torch.clamp(x, min=torch.finfo(x.dtype).tiny))
        log_mean = torch.logsumexp(p * log_x, dim=1) - math.log(x.shape[1])  # log mean_j x^p
        return torch.exp(log_mean / p)
