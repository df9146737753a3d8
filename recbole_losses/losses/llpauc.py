r"""LLPAUC: the Lower-Left Partial AUC surrogate.

Reference: Shi et al., "Lower-Left Partial AUC: An Effective and Efficient Optimization Metric
for Recommendation", WWW 2024. Reference code: Tiny-Snow/IR-Benchmark ``optim_LLPAUC.py`` (the
LLPAUC of the PSL and SL@K tables; the default here) and the authors' swt-user/LLPAUC
(``BPRLoss_OP_DRO_Triplet_Auto``, ``bpr_tp_point.py``; its gradient ascent on s⁺ and γ is the
``ascent=True`` option).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_bool, check_interval, check_positive
from .base import RankingLoss
from .registry import register_loss

# (initial value, clipping range after each step or None) of the scalar variables.
VARIABLES = {
    "a": (1.0, (0.0, 1.0)),
    "b": (0.0, (0.0, 1.0)),
    "gamma": (0.0, None),  # clipped to [max(-a, b - 1), 1]
    "s_pos": (0.5, (-1.0, 4.0)),
    "s_neg": (0.5, (0.0, 5.0)),
    "theta_a": (0.5, None),
    "theta_b": (0.5, None),
}


@register_loss
class LLPAUC(RankingLoss):
    r"""The min-max surrogate of the lower-left partial AUC (TPR ≤ α, FPR ≤ β).

    With p⁺ = sigmoid(r_ui), p⁻_j = sigmoid(r_uj) and r_κ(x) = softplus(κx)/κ:

    .. math::
        \ell_{ui} = -s^+ - \frac{1}{\alpha} r_\kappa\big(-(p^+ - a)^2 + 2(1+\gamma)p^+ - s^+\big)
            + s^- + \frac{1}{\beta}\cdot\frac{1}{N}\sum_j r_\kappa\big((p^-_j - b)^2 + 2(1+\gamma)p^-_j - s^-\big)
            - \gamma^2 + \theta_a (a + \gamma) + \theta_b (\gamma + 1 - b)

    The seven scalars are ``nn.Parameter``s of the loss (checkpoints hold them), trained by the
    model's optimiser in their own param groups: a, b, θ_a, θ_b at learning rate ``lr``, s⁺, s⁻, γ
    at 2·``lr`` (``lr`` None: the model's learning rate), all with the model's weight decay. After
    every step they are clipped: a, b ∈ [0, 1], s⁺ ∈ [−1, 4], s⁻ ∈ [0, 5],
    γ ∈ [max(−a, b − 1), 1]; θ is not clipped. Initial a = 1, b = 0, γ = 0, s⁺ = s⁻ = θ_a =
    θ_b = 0.5.

    Note: ``ascent=False`` (IR-Benchmark) descends on every variable, s⁺ and γ included
    (the reference notes ascent was "a disaster"); ``ascent=True`` takes gradient ascent steps
    on s⁺ and γ (the paper's SGDA and the authors' code). The mean over rows equals the
    reference's batch loss (means over B and over B·N). Default score: cosine (IR-Benchmark
    normalises; the authors' code uses the dot product).
    Args (defaults in the signature): alpha in (0, 1]; beta in (0, 1]; kappa > 0; lr > 0 or None;
    ascent, a bool.
    """

    name = "LLPAUC"
    prefix = "llpauc_"
    default_score = "cos"

    def __init__(
        self,
        alpha: float = 0.7,
        beta: float = 0.01,
        kappa: float = 5.0,
        lr: float | None = None,
        ascent: bool = False,
    ):
        super().__init__()
        self.alpha = check_interval(self.name, "alpha", alpha, 0.0, 1.0, closed="right")
        self.beta = check_interval(self.name, "beta", beta, 0.0, 1.0, closed="right")
        self.kappa = check_positive(self.name, "kappa", kappa)
        self.lr = check_positive(self.name, "lr", lr, none=True)
        self.ascent = check_bool(self.name, "ascent", ascent)
        self.variables = nn.ParameterDict({k: nn.Parameter(torch.tensor(v)) for k, (v, _) in VARIABLES.items()})

    def optimizer_groups(self, *, lr: float, weight_decay: float) -> list[dict]:
        base = self.lr if self.lr is not None else lr
        v = self.variables
        return [
            {"params": [v["a"], v["b"], v["theta_a"], v["theta_b"]], "lr": base, "weight_decay": weight_decay},
            {"params": [v["s_neg"]], "lr": 2 * base, "weight_decay": weight_decay},
            {"params": [v["s_pos"], v["gamma"]], "lr": 2 * base, "weight_decay": weight_decay, "maximize": self.ascent},
        ]

    @torch.no_grad()
    def clip_variables(self) -> None:
        """Project the variables onto their ranges (γ after a and b, as the reference)."""
        v = self.variables
        for key, (_, bounds) in VARIABLES.items():
            if bounds is not None:
                v[key].clamp_(*bounds)
        low = torch.maximum(-v["a"], v["b"] - 1.0)
        v["gamma"].copy_(torch.minimum(torch.maximum(v["gamma"], low), torch.ones_like(low)))

    def after_step(self) -> None:
        self.clip_variables()

    def row_loss(self, pos_score, neg_score, **context):
        v = {k: p.to(pos_score.dtype) for k, p in self.variables.items()}
        a, b, gamma, s_pos, s_neg = v["a"], v["b"], v["gamma"], v["s_pos"], v["s_neg"]
        p_pos, p_neg = torch.sigmoid(pos_score), torch.sigmoid(neg_score)  # [B], [B, N]
        inner_pos = -(p_pos - a).square() + 2 * (1 + gamma) * p_pos - s_pos  # [B]
        inner_neg = (p_neg - b).square() + 2 * (1 + gamma) * p_neg - s_neg  # [B, N]
        max_pos = _r_kappa(inner_pos, self.kappa)
        max_neg = _r_kappa(inner_neg, self.kappa).mean(dim=1)
        constant = (
            -s_pos + s_neg - gamma.square() + v["theta_a"] * (a + gamma) + v["theta_b"] * (gamma + 1 - b)
        )
        return constant - max_pos / self.alpha + max_neg / self.beta


def _r_kappa(x: torch.Tensor, kappa: float) -> torch.Tensor:
    """log(1 + exp(κx)) / κ, exact for every x (``F.softplus`` switches to x above κx = 20)."""
    return torch.logaddexp(torch.zeros_like(x), kappa * x) / kappa
