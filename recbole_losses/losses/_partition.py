"""The per-user moving average of SL's partition function that SogCLR and SogSL@K share: the
buffers, the linearised softmax term that uses it, and its update after each optimiser step."""

from __future__ import annotations

import math

import torch


class MovingPartition:
    r"""Mixin for a :class:`~recbole_losses.losses.base.RankingLoss` with a per-user moving
    average g_u of the partition ĝ_ui = (1/N) Σ_j exp(r_uj/τ), kept in log space.

    The loss sets ``tau`` and ``gamma_g`` and calls :meth:`register_partition` in ``__init__``,
    :meth:`setup_partition` in ``setup`` and :meth:`write_partition` in ``after_step``; its
    ``step_state`` names ``log_g`` and ``g_seen`` (both "mean").
    """

    tau: float
    gamma_g: float

    def register_partition(self) -> None:
        self.register_buffer("log_g", None)  # [n_users] log g_u, persistent: checkpoints hold it
        self.register_buffer("g_seen", None)  # [n_users] 1.0 once g_u has been estimated
        self._pending_partition = None

    def setup_partition(self, n_users: int, device) -> None:
        self.log_g = torch.zeros(n_users, dtype=torch.float32, device=device)
        self.g_seen = torch.zeros(n_users, dtype=torch.float32, device=device)

    def linearised_softmax(self, pos_score: torch.Tensor, neg_score: torch.Tensor, user) -> torch.Tensor:
        r"""SL's log Σ_j exp(d_j/τ) with log ĝ replaced by its tangent at the moving average
        (log g + ĝ/g − 1), as [B]: SL + e^δ − 1 − δ with δ = log ĝ − log g (g detached).

        Per row, log g is the row's update (1 − γ)·g_u + γ·ĝ_ui of the stored g_u (ĝ_ui itself
        for a user not seen before, or without state). In training the rows' updates are kept
        for :meth:`write_partition`."""
        log_n = math.log(neg_score.shape[1])
        softmax = torch.logsumexp((neg_score - pos_score.unsqueeze(1)) / self.tau, dim=1)  # [B]
        log_g_hat = torch.logsumexp(neg_score / self.tau, dim=1) - log_n  # [B]
        training = self.training and torch.is_grad_enabled()
        with torch.no_grad():
            log_g = log_g_hat.detach()
            if self.log_g is not None and user is not None:
                stored = self.log_g[user].to(log_g.dtype)  # [B]
                keep = math.log1p(-self.gamma_g) if self.gamma_g < 1.0 else float("-inf")
                updated = torch.logaddexp(stored + keep, log_g + math.log(self.gamma_g))
                log_g = torch.where(self.g_seen[user] > 0, updated, log_g)  # [B]
                if training:
                    self._pending_partition = (user, log_g)
        delta = log_g_hat - log_g  # [B]
        return softmax + torch.expm1(delta) - delta

    @torch.no_grad()
    def write_partition(self) -> None:
        """g_u ← the mean of the updates of u's rows in the last batch, i.e. (1 − γ)·g_u + γ·(mean
        of u's ĝ), for every user of that batch."""
        pending, self._pending_partition = self._pending_partition, None
        if pending is None:
            return
        user, log_g = pending
        users, row_user = torch.unique(user, return_inverse=True)
        top = torch.full(users.shape, float("-inf"), dtype=log_g.dtype, device=log_g.device)
        top = top.scatter_reduce(0, row_user, log_g, reduce="amax")
        total = torch.zeros_like(top).index_add_(0, row_user, torch.exp(log_g - top[row_user]))
        count = torch.bincount(row_user, minlength=users.numel()).to(log_g.dtype)
        self.log_g[users] = (top + torch.log(total / count)).to(self.log_g.dtype)
        self.g_seen[users] = 1.0
