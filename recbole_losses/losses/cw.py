r"""CW: the Correct-and-Weight loss.

Reference: Yin et al., "Correct and Weight: A Simple Yet Effective Loss for Implicit Feedback
Recommendation", arXiv 2601.04291, 2026 (Eq. 3-15). No public code exists; the places where the
paper is ambiguous are fixed by the project's specification and documented in docs/losses.md.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_half_open_unit, check_nonnegative, check_open_unit, check_positive
from ..functional import ACTIVATIONS, log_activation, log_mean_exp, log_weighted_activation_sum
from .base import RankingLoss
from .registry import register_loss


@register_loss
class CW(RankingLoss):
    r"""PSL with a positive-unlabeled correction (τ⁺) and confidence weights (β).

    .. math::
        \ell_{ui} = \log\big(N \cdot \max(G, \text{floor}\cdot A/(1-\tau^+))\big),\quad
        G = \frac{A - \tau^+ C}{1 - \tau^+},\quad
        A = \frac1N\sum_j \frac{w_j}{Z}\,\varphi(d_j),\quad
        C = \frac1M\sum_k \varphi(d_k)

    with d_j = r_uj − r_ui (negatives), d_k = r_uk − r_ui (M sampled training positives),
    φ(d) = σ(d)^{1/τ}, w_j = exp(−β d_j) and Z = mean_j w_j computed from detached scores.
    All of it is evaluated in log space.

    Note: β = 0, τ⁺ = 0 gives PSL; additionally σ = exp gives SL. τ⁺ = 0 is the paper's L_W
    (weighting only), β = 0 its L_C (correction only). The floor binds only when the correction
    would remove more than (1 − floor) of A; the row then trains as L_W.
    Args: tau > 0 (0.1); beta >= 0 (0.8); tau_plus in [0, 1) or "pop" (0.1); activation in
    relu, tanh, atan, exp (relu); floor in (0, 1) (0.01).
    ``tau_plus="pop"``: per row, τ⁺ = mean over the row's negatives j of n_j / n_users, the share
    of training users who interacted with j (needs :meth:`setup` and ``neg_item``).
    Default score: half cosine.
    """

    name = "CW"
    prefix = "cw_"
    default_score = "half_cos"
    exact_gradient_params = {"beta": 0.0}  # Z = mean_j w_j is detached by design

    def __init__(
        self,
        tau: float = 0.1,
        beta: float = 0.8,
        tau_plus: float | str = 0.1,
        activation: str = "relu",
        floor: float = 0.01,
    ):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.beta = check_nonnegative(self.name, "beta", beta)
        if isinstance(tau_plus, str):
            self.tau_plus = check_choice(self.name, "tau_plus", tau_plus, ["pop"])
        else:
            try:
                self.tau_plus = check_half_open_unit(self.name, "tau_plus", tau_plus)
            except ValueError:
                raise ValueError(f"CW: tau_plus must be in [0, 1) or 'pop', got {tau_plus!r}") from None
        self.activation = check_choice(self.name, "activation", activation, ACTIVATIONS)
        self.floor = check_open_unit(self.name, "floor", floor)
        self.register_buffer("item_prior", None, persistent=False)

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        # Training-split popularity share of each item: the "pop" estimate of τ⁺.
        self.item_prior = item_counts.double().div(max(n_users, 1)).clamp(max=1.0 - 1e-6)

    def log_n_a(self, d: torch.Tensor) -> torch.Tensor:
        """[B] log(N·A) = log Σ_j (w_j / Z) φ(d_j) for negatives' d [B, N] (Z from detached d)."""
        return log_weighted_activation_sum(d, self.tau, self.beta, self.activation)

    def log_c(self, d_pos: torch.Tensor) -> torch.Tensor:
        """[B] log C = log mean_k φ(d_k) for sampled positives' d [B, M]."""
        return log_mean_exp(log_activation(d_pos, self.activation) / self.tau, dim=1)

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, neg_item=None, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        loss = self.log_n_a(d)  # [B]
        log_a = loss - math.log(neg_score.shape[1])
        tau_plus = self._row_tau_plus(neg_item, d)
        if isinstance(tau_plus, float) and tau_plus == 0.0:
            return loss
        if sampled_pos_score is None:
            raise ValueError("CW: tau_plus > 0 needs sampled_pos_score [B, M] (set pos_num >= 1)")
        d_pos = sampled_pos_score - pos_score.unsqueeze(1)  # [B, M]
        log_c = self.log_c(d_pos)  # [B]
        # log(A - τ⁺C) = log A + log(1 - r), r = τ⁺C/A clamped to <= 1 - floor.
        log_r = torch.log(torch.as_tensor(tau_plus, dtype=d.dtype, device=d.device)) + log_c - log_a
        log_r = torch.clamp(log_r, max=math.log1p(-self.floor))
        one_minus_tp = 1.0 - torch.as_tensor(tau_plus, dtype=d.dtype, device=d.device)
        return loss + torch.log1p(-torch.exp(log_r)) - torch.log(one_minus_tp)

    def _row_tau_plus(self, neg_item, d):
        if self.tau_plus != "pop":
            return self.tau_plus
        if self.item_prior is None or neg_item is None:
            raise ValueError(
                "CW: tau_plus='pop' needs item popularity and neg_item ids: call "
                "loss.setup(n_users=..., n_items=..., item_counts=...) and pass neg_item"
            )
        return self.item_prior.to(d.device)[neg_item].mean(dim=1).to(d.dtype)  # [B]
