r"""Vectorised sampling of negatives and positives for the sampled batch mode.

Built once from the training split's (user, item) pairs, on any device:

- negatives, ``uniform``: exact uniform draws from the items the user has *not* interacted with
  in training, without rejection. With the user's sorted positives p_0 < p_1 < ... and
  q_k = (p_k − 1) − k the number of free items below p_k, the r-th free item (0-based, items
  1..n_items−1; 0 is RecBole's padding id) is ``1 + r + #{k : q_k <= r}``: one ``searchsorted``
  over all rows at once.
- negatives, ``popularity``: items drawn with probability ∝ (training count)^alpha, training
  positives rejected and re-drawn (vectorised rounds); entries still colliding after
  ``max_rounds`` fall back to the exact uniform draw.
- positives: M draws with replacement from the user's training items (CSR of the training split).

Randomness comes from ``generator`` or torch's global RNG, so RecBole's ``init_seed`` and the
DataLoader's per-worker seeding make runs reproducible.
"""

from __future__ import annotations

import torch

DISTRIBUTIONS = ("uniform", "popularity")


class TrainingItemSampler:
    def __init__(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        n_users: int,
        n_items: int,
        distribution: str = "uniform",
        alpha: float = 1.0,
        max_rounds: int = 20,
    ):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"neg_distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}")
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.distribution, self.max_rounds = distribution, max_rounds
        keys = torch.unique(users.long() * self.n_items + items.long())  # sorted, deduplicated
        rows, cols = keys // self.n_items, keys % self.n_items
        self.keys = keys  # [nnz], sorted (user, item) keys of training positives
        self.degree = torch.bincount(rows, minlength=self.n_users)  # [U]
        self.indptr = torch.zeros(self.n_users + 1, dtype=torch.long)
        self.indptr[1:] = torch.cumsum(self.degree, 0)
        self.indices = cols  # [nnz], items of each user in ascending order
        self.free = (self.n_items - 1) - self.degree  # [U] items available as negatives
        offset_in_row = torch.arange(keys.numel()) - self.indptr[rows]
        self.free_keys = rows * self.n_items + (cols - 1 - offset_in_row)  # sorted: q_k per row
        counts = torch.bincount(items.long(), minlength=self.n_items).double()
        self.item_counts = counts  # [I] training interaction counts (duplicates counted)
        weights = counts.pow(alpha) if alpha != 0 else (counts > 0).double()
        weights[0] = 0.0
        self.pop_weights = weights

    def to(self, device) -> TrainingItemSampler:
        for name in ("keys", "degree", "indptr", "indices", "free", "free_keys", "pop_weights", "item_counts"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def negatives(self, users: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[B, num] items the row users never interacted with in training."""
        if self.distribution == "popularity":
            return self._popularity_negatives(users, num, generator)
        return self._uniform_negatives(users, num, generator)

    def positives(self, users: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[B, num] items drawn uniformly with replacement from each user's training items."""
        degree = self.degree[users]
        if bool((degree == 0).any()):
            bad = users[degree == 0][:5].tolist()
            raise ValueError(f"users {bad} have no training items, so no positive can be sampled")
        u = torch.rand(users.shape[0], num, generator=generator, device=users.device)
        offset = (u * degree.unsqueeze(1)).long().clamp_(max=(degree - 1).unsqueeze(1))
        return self.indices[self.indptr[users].unsqueeze(1) + offset]

    def is_training_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool, shaped like ``items`` ([B, ...]): is (users[b], items[b, ...]) a training pair?"""
        if self.keys.numel() == 0:
            return torch.zeros_like(items, dtype=torch.bool)
        query = users.reshape(-1, *([1] * (items.dim() - 1))) * self.n_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def _uniform_negatives(self, users, num, generator):
        free = self.free[users]  # [B]
        if bool((free <= 0).any()):
            bad = users[free <= 0][:5].tolist()
            raise ValueError(
                f"users {bad} interacted with every item in training, so no negative can be sampled"
            )
        u = torch.rand(users.shape[0], num, generator=generator, device=users.device)
        r = (u * free.unsqueeze(1)).long().clamp_(max=(free - 1).unsqueeze(1))  # [B, num]
        query = users.unsqueeze(1) * self.n_items + r
        below = torch.searchsorted(self.free_keys, query, right=True) - self.indptr[users].unsqueeze(1)
        return 1 + r + below

    def _popularity_negatives(self, users, num, generator):
        b = users.shape[0]
        out = torch.multinomial(self.pop_weights, b * num, replacement=True, generator=generator).view(b, num)
        for _ in range(self.max_rounds):
            hit = self.is_training_positive(users, out)
            if not bool(hit.any()):
                return out
            redraw = torch.multinomial(self.pop_weights, int(hit.sum()), replacement=True, generator=generator)
            out[hit] = redraw
        hit = self.is_training_positive(users, out)
        if bool(hit.any()):
            rows = hit.nonzero()[:, 0]
            out[hit] = self._uniform_negatives(users[rows], 1, generator).squeeze(1)
        return out
