r"""SONG@K: stochastic optimisation of a smoothed DCG@K with moving-average rank estimates.

Reference: Qiu et al., "Large-Scale Stochastic Optimization of NDCG Surrogates for Deep Learning
with Provable Convergence", arXiv 2202.12183, 2022 (SONG and its top-K version), in the form the
SL@K paper states and tunes it (Yang et al., KDD 2025, App. A, Eq. A.4, and App. D.4); IR-Benchmark
ships no SONG code. See docs/losses.md for the choices.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_bool, check_int, check_interval, check_nonnegative, check_number
from .base import RankingLoss
from .registry import register_loss

_LN2 = math.log(2.0)


@register_loss
class SONGatK(RankingLoss):
    r"""A smoothed −DCG@K whose rank surrogate is a per-(user, item) moving average, with a
    top-K quantile learned by quantile regression.

    .. math::
        \ell_{ui} = w_{ui}\big(f(g_{ui}) + f'(g_{ui})(\hat g_{ui} - g_{ui})\big), \qquad
        f(x) = -\frac{1}{\log_2(1 + x)}, \qquad w_{ui} = \operatorname{sigmoid}(r_{ui} - \beta_u^K)

        \hat g_{ui} = 1 + \frac{I - 1}{C - 1} \sum_{c \ne i} \max(0, r_{uc} - r_{ui} + 1)^2,
        \qquad g_{ui} \leftarrow (1 - \gamma_g)\, g_{ui} + \gamma_g\, \hat g_{ui}

    ĝ_ui estimates the smoothed rank of i from the row's other C − 1 candidates (negatives and
    sampled positives), scaled to the I items of :meth:`setup` (factor at least 1; without
    :meth:`setup` the factor is 1). g_ui is a buffer per training pair (u, i), a constant in the
    gradient, so the gradient is w·f'(g)·∇ĝ (Eq. A.4); each row uses its own update (ĝ at a
    pair's first row) and the step writes it. β_u^K, a per-user buffer started at
    ``beta_init``, takes one step of size η_λ (``eta_lambda``) per row after each optimiser step
    on the quantile-regression loss of the (1 − K/I)-quantile over the row's candidates. w is
    detached (Eq. A.4) unless ``detach_weight`` is False.

    Note: f(g) + f'(g)(ĝ − g) is the tangent of the concave f at g, so ℓ ≥ w·f(ĝ), with equality
    at γ_g = 1 (and before :meth:`setup` / :meth:`attach`). ĝ ≥ 1, so f is finite. Default
    score: cosine. Args (defaults in the signature): gamma_g in (0, 1]; eta_lambda >= 0; k >= 1;
    beta_init any number; detach_weight, a bool.
    """

    name = "SONG@K"
    prefix = "songatk_"
    aliases = ("SONGatK",)
    default_score = "cos"
    step_state = {"beta": "sum", "g": "mean", "g_seen": "mean"}  # combined across ranks after every step
    exact_gradient_params = {"gamma_g": 1.0, "detach_weight": False}

    def __init__(
        self,
        gamma_g: float = 0.1,
        eta_lambda: float = 0.001,
        k: int = 20,
        beta_init: float = 0.0,
        detach_weight: bool = True,
    ):
        super().__init__()
        self.gamma_g = check_interval(self.name, "gamma_g", gamma_g, 0.0, 1.0, closed="right")
        self.eta_lambda = check_nonnegative(self.name, "eta_lambda", eta_lambda)
        self.k = check_int(self.name, "k", k, 1)
        self.beta_init = check_number(self.name, "beta_init", beta_init)
        self.detach_weight = check_bool(self.name, "detach_weight", detach_weight)
        self.n_items: int | None = None
        self.register_buffer("beta", None)  # [n_users] β_u^K, persistent
        self.register_buffer("g", None)  # [n_pairs] moving averages g_ui, persistent
        self.register_buffer("g_seen", None)  # [n_pairs] 1.0 once g_ui has been estimated
        self.register_buffer("pair_key", None, persistent=False)  # [n_pairs] sorted u·I + i
        self._pending = None

    # -- state --------------------------------------------------------------------------------

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.n_items = int(n_items)
        device = item_counts.device
        n_pairs = int(item_counts.sum())  # at least the distinct training pairs
        self.beta = torch.full((n_users,), self.beta_init, dtype=torch.float32, device=device)
        self.g = torch.ones(n_pairs, dtype=torch.float32, device=device)
        self.g_seen = torch.zeros(n_pairs, dtype=torch.float32, device=device)

    def attach(self, *, scorer, train_user: torch.Tensor, train_item: torch.Tensor) -> None:
        if self.g is None:
            return
        keys = torch.unique(train_user.long() * self.n_items + train_item.long())  # sorted
        if keys.numel() > self.g.numel():
            raise ValueError(
                f"{self.name}: attach got {keys.numel()} distinct training pairs, but setup's item counts "
                f"sum to {self.g.numel()}; pass setup the training split's counts"
            )
        self.pair_key = keys.to(self.g.device)

    def _pair_index(self, user, pos_item):
        """Index into the pair buffers of each row's (u, i) [B], and whether it is a training pair."""
        key = user.long() * self.n_items + pos_item.long()
        index = torch.searchsorted(self.pair_key, key).clamp(max=self.pair_key.numel() - 1)
        return index, self.pair_key[index] == key

    @torch.no_grad()
    def quantile_step(self, user: torch.Tensor, candidates: torch.Tensor) -> None:
        """β[user] −= η_λ · Σ_rows mean_c [(1 − p)·1(r_c < β_u) − p·1(r_c > β_u)], the gradient
        of the quantile-regression loss of the p = 1 − K/I quantile over each row's candidates."""
        if self.beta is None or self.eta_lambda == 0.0:
            return
        p = max(0.0, 1.0 - self.k / self._catalogue(candidates.shape[1]))
        beta = self.beta[user].to(candidates.dtype).unsqueeze(1)  # [B, 1]
        grad = ((1.0 - p) * (candidates < beta) - p * (candidates > beta)).to(candidates.dtype).mean(dim=1)
        self.beta.index_add_(0, user, grad.to(self.beta.dtype), alpha=-self.eta_lambda)

    def after_step(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        user, candidates, index, found, g = pending
        self.quantile_step(user, candidates)
        if found.any():  # a pair in several rows (duplicate interactions) gets their mean
            pairs, row_pair = torch.unique(index[found], return_inverse=True)
            total = torch.zeros(pairs.shape, dtype=g.dtype, device=g.device).index_add_(0, row_pair, g[found])
            count = torch.bincount(row_pair, minlength=pairs.numel()).to(g.dtype)
            self.g[pairs] = (total / count).to(self.g.dtype)
            self.g_seen[pairs] = 1.0

    def _catalogue(self, n_candidates: int) -> float:
        """I when known (:meth:`setup`), else the number of candidates."""
        return float(self.n_items if self.n_items is not None else n_candidates)

    # -- loss ---------------------------------------------------------------------------------

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, user=None, pos_item=None, **context):
        others = neg_score if sampled_pos_score is None else torch.cat([neg_score, sampled_pos_score], dim=1)
        c = others.shape[1] + 1
        scale = max(1.0, (self._catalogue(c) - 1.0) / (c - 1))
        hinge = torch.clamp(others - pos_score.unsqueeze(1) + 1.0, min=0.0)  # [B, C - 1]
        g_hat = 1.0 + scale * hinge.square().sum(dim=1)  # [B], >= 1

        training = self.training and torch.is_grad_enabled()
        stateful = self.beta is not None and user is not None
        beta = self.beta[user].to(pos_score.dtype) if stateful else torch.full_like(pos_score, self.beta_init)
        weight = torch.sigmoid(pos_score - beta)  # [B]
        if self.detach_weight:
            weight = weight.detach()
        with torch.no_grad():
            g = g_hat.detach()
            index = found = None
            if stateful and self.pair_key is not None and pos_item is not None:
                index, found = self._pair_index(user, pos_item)
                stored = self.g[index].to(g.dtype)
                seen = found & (self.g_seen[index] > 0)
                g = torch.where(seen, (1.0 - self.gamma_g) * stored + self.gamma_g * g, g)  # [B]
            if stateful and training:
                candidates = torch.cat([pos_score.detach().unsqueeze(1), others.detach()], dim=1)  # [B, C]
                if index is None:  # no pair state: only the quantile moves
                    index, found = torch.zeros_like(user), torch.zeros_like(user, dtype=torch.bool)
                self._pending = (user, candidates, index, found, g)
            log1p_g = torch.log1p(g)
            f = -_LN2 / log1p_g  # f(g) = −1/log2(1 + g)
            slope = _LN2 / ((1.0 + g) * log1p_g.square())  # f'(g)
        return weight * (f + slope * (g_hat - g))
