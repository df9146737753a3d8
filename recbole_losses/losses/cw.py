r"""CW: the Correct-and-Weight loss.

Reference: Yin et al., "Correct and Weight: A Simple Yet Effective Loss for Implicit Feedback
Recommendation", arXiv 2601.04291, 2026 (Eq. 3-15). No public code exists; the places where the
paper is ambiguous are fixed as documented in docs/losses.md, where the other readings offered here
(``weighting``, ``floor_mode``) are derived from the paper's lineage: debiased contrastive learning
(Chuang et al., NeurIPS 2020, chingyaoc/DCL) and hard negative sampling (Robinson et al., ICLR 2021,
joshr17/HCL).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_interval_or_choice, check_nonnegative, check_open_unit, check_positive
from ..functional import ACTIVATIONS, log_activation, log_mean_exp, log_weighted_activation_sum
from .base import RankingLoss
from .registry import register_loss

WEIGHTINGS = ("spec", "hcl", "inside")
FLOOR_MODES = ("relative", "absolute")


@register_loss
class CW(RankingLoss):
    r"""PSL with a positive-unlabeled correction (τ⁺) and confidence weights (β).

    .. math::
        \ell_{ui} = \log\big(N \cdot \max(G, G_{\min})\big),\quad
        G = \frac{A - \tau^+ C}{1 - \tau^+},\quad
        A = \frac1N\sum_j \frac{w_j}{Z}\,\varphi(d_j),\quad
        C = \frac1M\sum_k \varphi(d_k)

    with d_j = r_uj − r_ui (negatives), d_k = r_uk − r_ui (M sampled training positives),
    φ(d) = σ(d)^{1/τ} and Z = mean_j w_j. All of it is evaluated in log space.

    ``weighting``: ``"spec"`` (default) w_j = exp(−β d_j), Z from detached scores;
    ``"inside"`` the weight inside the power, (e^{−β d_j} σ(d_j))^{1/τ}, i.e. w_j = exp(−β d_j / τ),
    Z detached; ``"hcl"`` w_j = exp(+β d_j / τ) with Z in the graph (HCL's hard-negative weights).
    ``floor_mode``: ``"relative"`` (default) G_min = floor · A / (1 − τ⁺): a binding row trains as
    L_W; ``"absolute"`` G_min = φ(−1) = σ(−1)^{1/τ}, the smallest value φ takes for half-cosine
    differences (DCL's e^{−1/τ} for σ = exp): a binding row gets no gradient.

    Note: β = 0, τ⁺ = 0 gives PSL under every weighting; additionally σ = exp gives SL. τ⁺ = 0 is
    the paper's L_W (weighting only), β = 0 its L_C (correction only); with τ⁺ = 0 no floor applies.
    Args: tau > 0; beta >= 0; tau_plus in [0, 1) or "pop"; activation in relu, tanh, atan, exp;
    floor in (0, 1), used by floor_mode "relative"; floor_mode in relative, absolute; weighting in
    spec, hcl, inside (defaults: the signature).
    ``tau_plus="pop"``: per row, τ⁺ = mean over the row's negatives j of n_j / n_users, the share
    of training users who interacted with j (needs :meth:`setup` and ``neg_item``).
    Default score: half cosine.
    """

    name = "CW"
    prefix = "cw_"
    default_score = "half_cos"
    exact_gradient_params = {"beta": 0.0}  # Z = mean_j w_j is detached by design ("spec", "inside")

    def __init__(
        self,
        tau: float = 0.1,
        beta: float = 0.8,
        tau_plus: float | str = 0.1,
        activation: str = "relu",
        floor: float = 0.01,
        floor_mode: str = "relative",
        weighting: str = "spec",
    ):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.beta = check_nonnegative(self.name, "beta", beta)
        self.tau_plus = check_interval_or_choice(self.name, "tau_plus", tau_plus, 0.0, 1.0, ["pop"], closed="left")
        self.activation = check_choice(self.name, "activation", activation, ACTIVATIONS)
        self.floor = check_open_unit(self.name, "floor", floor)
        self.floor_mode = check_choice(self.name, "floor_mode", floor_mode, FLOOR_MODES)
        self.weighting = check_choice(self.name, "weighting", weighting, WEIGHTINGS)
        self.register_buffer("item_prior", None, persistent=False)

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        # Training-split popularity share of each item: the "pop" estimate of τ⁺.
        self.item_prior = item_counts.double().div(max(n_users, 1)).clamp(max=1.0 - 1e-6)

    def log_n_a(self, d: torch.Tensor) -> torch.Tensor:
        """[B] log(N·A) = log Σ_j (w_j / Z) φ(d_j) for negatives' d [B, N], under ``weighting``."""
        if self.weighting == "spec":  # w = e^{-βd}, Z detached
            return log_weighted_activation_sum(d, self.tau, self.beta, self.activation)
        if self.weighting == "inside":  # (e^{-βd} σ(d))^{1/τ} = e^{-βd/τ} φ(d), Z detached
            return log_weighted_activation_sum(d, self.tau, self.beta / self.tau, self.activation)
        # "hcl": w = e^{+βd/τ}, Z in the graph. The fused sum treats Z as a constant; subtracting
        # a zero whose gradient is ∂log Z/∂d puts Z's gradient back.
        log_n_a = log_weighted_activation_sum(d, self.tau, -self.beta / self.tau, self.activation)
        if not self.beta:
            return log_n_a
        return log_n_a - _LogNormaliserGradient.apply(d, self.beta / self.tau)

    def log_c(self, d_pos: torch.Tensor) -> torch.Tensor:
        """[B] log C = log mean_k φ(d_k) for sampled positives' d [B, M]."""
        return log_mean_exp(log_activation(d_pos, self.activation) / self.tau, dim=1)

    def log_phi_min(self, dtype: torch.dtype) -> float:
        """log G_min of ``floor_mode="absolute"``: log φ(−1) = log σ(−1) / τ, the smallest value φ
        takes on half-cosine differences (d ∈ [−1, 1]). σ = exp gives −1/τ (DCL's e^{−1/τ}); for
        relu σ(−1) = 0 and log σ is floored at log(finfo(dtype).tiny), as everywhere in CW."""
        return float(log_activation(torch.tensor([-1.0], dtype=dtype), self.activation)[0]) / self.tau

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, neg_item=None, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        loss = self.log_n_a(d)  # [B]
        terms = self._correction_terms(loss, d, pos_score, sampled_pos_score, neg_item)
        if terms is None:
            return loss
        log_a, log_r, log_one_minus_tp = terms
        if self.floor_mode == "absolute":
            binds = self._absolute_floor_binds(log_a, log_r, log_one_minus_tp)
            return math.log(neg_score.shape[1]) + self._log_g_absolute_floor(log_a, log_r, log_one_minus_tp, binds)
        # Relative floor: r clamped to <= 1 - floor.
        log_r = torch.clamp(log_r, max=math.log1p(-self.floor))
        return loss + torch.log1p(-torch.exp(log_r)) - log_one_minus_tp

    @torch.no_grad()
    def floor_binds(self, pos_score, neg_score, *, sampled_pos_score=None, neg_item=None) -> torch.Tensor:
        """[B] bool: the rows where the floor of ``floor_mode`` binds (relative: the row trains as
        L_W; absolute: it has no gradient). All False when τ⁺ = 0. A diagnostic: its mean is the
        share of rows on which the correction is cut off."""
        d = neg_score - pos_score.unsqueeze(1)
        terms = self._correction_terms(self.log_n_a(d), d, pos_score, sampled_pos_score, neg_item)
        if terms is None:
            return torch.zeros_like(pos_score, dtype=torch.bool)
        log_a, log_r, log_one_minus_tp = terms
        if self.floor_mode == "absolute":
            return self._absolute_floor_binds(log_a, log_r, log_one_minus_tp)
        return log_r >= math.log1p(-self.floor)

    def _correction_terms(self, log_n_a, d, pos_score, sampled_pos_score, neg_item):
        """(log A, log r, log(1 − τ⁺)) with r = τ⁺C/A, so that log(A − τ⁺C) = log A + log(1 − r);
        None when τ⁺ = 0 (no correction)."""
        tau_plus = self._row_tau_plus(neg_item, d)
        if isinstance(tau_plus, float) and tau_plus == 0.0:
            return None
        if sampled_pos_score is None:
            raise ValueError("CW: tau_plus > 0 needs sampled_pos_score [B, M] (set pos_num >= 1)")
        log_a = log_n_a - math.log(d.shape[1])
        log_c = self.log_c(sampled_pos_score - pos_score.unsqueeze(1))  # [B] from d_k [B, M]
        tau_plus = torch.as_tensor(tau_plus, dtype=d.dtype, device=d.device)
        return log_a, torch.log(tau_plus) + log_c - log_a, torch.log(1.0 - tau_plus)

    def _absolute_floor_binds(self, log_a, log_r, log_one_minus_tp):
        """[B] bool: G <= φ(−1), i.e. 1 − r <= s := φ(−1)(1 − τ⁺)/A, i.e. log r >= log(1 − s)."""
        with torch.no_grad():
            log_s = (self.log_phi_min(log_a.dtype) + log_one_minus_tp - log_a).clamp(max=0.0)
            return log_r >= _log1mexp(log_s)

    def _log_g_absolute_floor(self, log_a, log_r, log_one_minus_tp, binds):
        """[B] log max(G, φ(−1)) with G = A(1 − r)/(1 − τ⁺); rows where the floor binds (including
        r >= 1, where G <= 0) get the constant, hence no gradient."""
        # Where the floor binds, evaluate the unused branch at a harmless r = 1/2, so that neither
        # its value nor its (discarded) gradient is infinite.
        safe_log_r = torch.where(binds, torch.full_like(log_r, -math.log(2.0)), log_r)
        log_g = log_a + _log1mexp(safe_log_r) - log_one_minus_tp
        return torch.where(binds, torch.full_like(log_g, self.log_phi_min(log_a.dtype)), log_g)

    def _row_tau_plus(self, neg_item, d):
        if self.tau_plus != "pop":
            return self.tau_plus
        if self.item_prior is None or neg_item is None:
            raise ValueError(
                "CW: tau_plus='pop' needs item popularity and neg_item ids: call "
                "loss.setup(n_users=..., n_items=..., item_counts=...) and pass neg_item"
            )
        return self.item_prior.to(d.device)[neg_item].mean(dim=1).to(d.dtype)  # [B]


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − e^x) for x <= 0 (−inf at 0), accurate at both ends (Mächler's switch at −log 2)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


class _LogNormaliserGradient(torch.autograd.Function):
    """Zero in value, with the gradient of log Z = log mean_j exp(c·d_j) with respect to d [B, N]:
    c·softmax_j(c·d_j). One fused softmax saved; about half the time of autograd through
    ``logsumexp(c·d) − logsumexp(c·d).detach()``."""

    @staticmethod
    def forward(ctx, d, c):
        q = torch.softmax(d * c, dim=1)
        ctx.save_for_backward(q)
        ctx.c = c
        return d.new_zeros(d.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        (q,) = ctx.saved_tensors
        return q * (grad_out.unsqueeze(1) * ctx.c), None
