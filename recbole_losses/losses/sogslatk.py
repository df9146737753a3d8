r"""SogSL@K: SL@K optimised with SogCLR's per-user moving average of the partition function.

Reference: Yang et al., "Breaking the Top-K Barrier: Advancing Top-K Ranking Metrics Optimization
in Recommender Systems", KDD 2025 (SL@K), with the compositional estimator of Yuan et al., ICML 2022
(SogCLR). Reference code: Tiny-Snow/IR-Benchmark ``optim_SogSLatK.py`` (see docs/losses.md for
where it differs).
"""

from __future__ import annotations

import torch

from ._checks import check_interval
from ._partition import MovingPartition
from .registry import register_loss
from .slatk import SLatK


@register_loss
class SogSLatK(MovingPartition, SLatK):
    r"""SL@K whose softmax term is SogCLR's linearisation around a per-user moving average.

    .. math::
        \ell_{ui} = w_{ui}\Big(-\frac{r_{ui}}{\tau} + \log N + \log g_u + \frac{\hat g_{ui}}{g_u} - 1\Big),
        \qquad w_{ui} = \operatorname{sigmoid}\big((r_{ui} - \beta_u^K)/\tau_w\big),
        \qquad \hat g_{ui} = \frac{1}{N}\sum_{j=1}^{N} e^{r_{uj}/\tau}

    β_u^K is SL@K's per-user top-K quantile (same estimate, refresh schedule and options); g_u is
    SogCLR's per-user moving average, g_u ← (1 − γ_g) g_u + γ_g ĝ_ui, a constant in the
    gradient. The weight is not detached, as in SL@K.

    Note: the bracket is ≥ SL's log Σ_j exp(d_uij/τ), with equality when g_u = ĝ_ui, so γ_g = 1
    gives SL@K exactly (value and gradient), and so does the loss before :meth:`setup` or without
    ``user`` (with β = ``beta_init``). Default score: cosine (full-cosine τ scale).
    Args (defaults in the signature): as SL@K (tau > 0, tau_w > 0, k >= 1, t_beta >= 1, beta_init
    any number, pos_quantile in (0, 1]); gamma_g in (0, 1].
    """

    name = "SogSL@K"
    prefix = "sogslatk_"
    aliases = ("SogSLatK",)
    default_score = "cos"
    step_state = {"beta": "mean", "log_g": "mean", "g_seen": "mean"}  # combined across ranks after every step
    exact_gradient_params = {"gamma_g": 1.0}

    def __init__(
        self,
        tau: float = 0.1,
        tau_w: float = 2.25,
        k: int = 20,
        t_beta: int = 20,
        beta_init: float = 0.0,
        pos_quantile: float = 0.9,
        gamma_g: float = 0.9,
    ):
        super().__init__(tau=tau, tau_w=tau_w, k=k, t_beta=t_beta, beta_init=beta_init, pos_quantile=pos_quantile)
        self.gamma_g = check_interval(self.name, "gamma_g", gamma_g, 0.0, 1.0, closed="right")
        self.register_partition()

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        super().setup(n_users=n_users, n_items=n_items, item_counts=item_counts)
        self.setup_partition(n_users, item_counts.device)

    def after_step(self) -> None:
        super().after_step()  # SL@K's quantile refresh
        self.write_partition()

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, user=None, neg_item=None, **context):
        weight = self.quantile_weight(pos_score, neg_score, sampled_pos_score, user, neg_item)  # [B]
        return weight * self.linearised_softmax(pos_score, neg_score, user)
