r"""SogCLR: SL optimised with a per-user moving average of its partition function.

Reference: Yuan et al., "Provable Stochastic Optimization for Global Contrastive Learning: Small
Batch Does Not Harm Performance", ICML 2022. Reference code: Tiny-Snow/IR-Benchmark
``optim_SogCLR.py`` (SogCLR on SL's sampled negatives; its gradient is the one computed here).
"""

from __future__ import annotations

import torch

from ._checks import check_interval, check_positive
from ._partition import MovingPartition
from .base import RankingLoss
from .registry import register_loss


@register_loss
class SogCLR(MovingPartition, RankingLoss):
    r"""SL whose log-partition is linearised around a per-user moving average, so that its
    gradient is the compositional estimator of SogCLR.

    .. math::
        \ell_{ui} = -\frac{r_{ui}}{\tau} + \log N + \log g_u + \frac{\hat g_{ui}}{g_u} - 1,
        \qquad \hat g_{ui} = \frac{1}{N}\sum_{j=1}^{N} e^{r_{uj}/\tau},
        \qquad g_u \leftarrow (1 - \gamma_g)\, g_u + \gamma_g\, \hat g_{ui}

    g_u is a per-user buffer, a constant in the gradient: the negatives' gradient is
    ∇ĝ_ui / g_u (SL's is ∇ĝ_ui / ĝ_ui). Each row uses its own update of the stored g_u
    (ĝ_ui itself at a user's first row, as the reference); after the optimiser step g_u
    becomes the mean of the updates of u's rows in the batch.

    Note: log g + ĝ/g − 1 is the tangent of log ĝ at g, so ℓ ≥ SL with equality when g_u = ĝ_ui:
    γ_g = 1 gives SL exactly (value and gradient), and so does the loss before :meth:`setup`
    or without ``user``. Computed in log space (SL + e^δ − 1 − δ, δ = log ĝ − log g), finite
    for any score scale; e^δ ≤ 1/γ_g. Default score: cosine (full-cosine τ scale).
    Args (defaults in the signature): tau > 0; gamma_g in (0, 1].
    """

    name = "SogCLR"
    prefix = "sogclr_"
    default_score = "cos"
    step_state = {"log_g": "mean", "g_seen": "mean"}  # combined across ranks after every step
    exact_gradient_params = {"gamma_g": 1.0}

    def __init__(self, tau: float = 0.1, gamma_g: float = 0.9):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.gamma_g = check_interval(self.name, "gamma_g", gamma_g, 0.0, 1.0, closed="right")
        self.register_partition()

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.setup_partition(n_users, item_counts.device)

    def after_step(self) -> None:
        self.write_partition()

    def row_loss(self, pos_score, neg_score, *, user=None, **context):
        return self.linearised_softmax(pos_score, neg_score, user)  # [B]
