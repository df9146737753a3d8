r"""Vectorised sampling of negatives and positives for the sampled batch mode.

Built once from the training split's (user, item) pairs, on any device:

- negatives, ``uniform``: uniform draws from the items the user has *not* interacted with in
  training (items 1..n_items−1; 0 is RecBole's padding id). Vectorised rejection: draw from all
  items, re-draw only the entries that hit a training positive, for up to ``max_rounds`` rounds;
  membership is one lookup in a (user, item) byte table (``n_users·n_items`` bytes, used up to
  ``table_bytes``), else in a packed bitmap (an eighth of that, up to ``bitmap_bytes``), else a
  ``searchsorted`` over the sorted training keys (the table or bitmap is built at the first
  lookup). Entries
  still colliding after ``max_rounds`` (users who interacted with most items) get an exact draw
  from the complement without rejection: with the user's sorted positives p_0 < p_1 < ... and
  q_k = (p_k − 1) − k the number of free items below p_k, the r-th free item (0-based) is
  ``1 + r + #{k : q_k <= r}``. Either way each entry is exactly uniform over the complement.
- negatives, ``popularity``: items drawn with probability ∝ (training count)^alpha, with the same
  rejection of training positives and the exact uniform fallback.
- positives: M draws with replacement from the user's training items (CSR of the training split).

Randomness comes from ``generator`` or torch's global RNG, so RecBole's ``init_seed`` and the
DataLoader's per-worker seeding make runs reproducible. On CPU, uniform negatives are drawn and
checked in one compiled pass, and positives drawn in one call, where a C compiler works
(``compiled=True``, the default; :mod:`recbole_losses.native`: the same distributions, their own
random stream, seeded from that torch RNG; no membership table is read). Otherwise the bulk
uniform integers come from a NumPy ``Generator`` seeded from that torch RNG at every call (torch's CPU ``randint`` is a
single-threaded Mersenne twister), membership lookups from ``np.take`` and hit
positions from ``np.flatnonzero``, each faster than its torch counterpart on CPU
(docs/performance.md, "The sampler on CPU").
"""

from __future__ import annotations

import numpy as np
import torch

from .. import native

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
        table_bytes: int = 256 * 2**20,
        bitmap_bytes: int = 512 * 2**20,
        compiled: bool = True,
    ):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"neg_distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}")
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.distribution, self.max_rounds, self.compiled = distribution, max_rounds, compiled
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
        self.table_bytes, self.bitmap_bytes = table_bytes, bitmap_bytes
        self.table = self.bitmap = None  # membership: a byte or a bit per (user, item) pair
        self._membership_built = False

    def _build_membership(self) -> None:
        """The byte table or bitmap, on the keys' device; built at the first lookup, so the
        compiled sampler, which reads neither, never allocates them."""
        self._membership_built, size, keys = True, self.n_users * self.n_items, self.keys
        if size <= self.table_bytes:
            self.table = torch.zeros(size, dtype=torch.uint8, device=keys.device)
            self.table[keys] = 1
        elif size <= 8 * self.bitmap_bytes:  # key = user * n_items + item
            byte, bit_value = keys >> 3, torch.ones_like(keys) << (keys & 7)
            uniq, inverse = torch.unique_consecutive(byte, return_inverse=True)
            packed = torch.zeros(uniq.numel(), dtype=torch.long, device=keys.device).index_add_(0, inverse, bit_value)
            self.bitmap = torch.zeros((size + 7) // 8, dtype=torch.uint8, device=keys.device)
            self.bitmap[uniq] = packed.to(torch.uint8)

    def to(self, device) -> TrainingItemSampler:
        for name in ("keys", "degree", "indptr", "indices", "free", "free_keys", "pop_weights", "item_counts", "table", "bitmap"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else value.to(device))
        return self

    def negatives(self, users: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[B, num] items the row users never interacted with in training."""
        if self.distribution == "popularity":
            return self._popularity_negatives(users, num, generator)
        return self._uniform_negatives(users, num, generator)

    def positives(self, users: torch.Tensor, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[B, num] items drawn uniformly with replacement from each user's training items."""
        if self._uses_native(users):
            drawn = native.draw_positives(users, num, self.indptr, self.indices, random_seed(generator))
            if drawn is not None:
                return drawn
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
        if not self._membership_built:
            self._build_membership()
        query = users.reshape(-1, *([1] * (items.dim() - 1))) * self.n_items + items
        if self.table is not None:
            return take(self.table, query).view(torch.bool)
        if self.bitmap is not None:  # bit (query & 7) of byte (query >> 3), shifted in uint8
            byte = take(self.bitmap, query >> 3)
            return byte.bitwise_right_shift_((query & 7).to(torch.uint8)).bitwise_and_(1).view(torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def _uniform_negatives(self, users, num, generator):
        self._check_free(users)
        if self._uses_native(users):
            return native.draw_negatives(users, num, self.indptr, self.indices, self.free_keys, self.n_items,
                                         random_seed(generator), self.max_rounds)
        draw = uniform_integers(1, self.n_items, generator, users.device)
        return self._reject_positives(users, draw((users.shape[0], num)), generator, draw)

    def _popularity_negatives(self, users, num, generator):
        self._check_free(users)
        b = users.shape[0]
        out = torch.multinomial(self.pop_weights, b * num, replacement=True, generator=generator).view(b, num)
        return self._reject_positives(users, out, generator, lambda k: torch.multinomial(
            self.pop_weights, k, replacement=True, generator=generator))

    def _reject_positives(self, users, out, generator, draw):
        """Re-draw (in place) the entries of ``out`` [B, num] that are training positives of
        their row's user, re-checking only the re-drawn entries; after ``max_rounds`` rounds,
        draw what still collides exactly from the complement."""
        num, flat = out.shape[1], out.view(-1)
        hit = flat_nonzero(self.is_training_positive(users, out).view(-1))
        for _ in range(self.max_rounds):
            if hit.numel() == 0:
                return out
            redrawn = draw(hit.numel())
            flat[hit] = redrawn
            hit = hit[self.is_training_positive(users[hit // num], redrawn)]
        if hit.numel():
            flat[hit] = self._complement_draw(users[hit // num], generator)
        return out

    def _complement_draw(self, users, generator):
        """One exact uniform draw per entry of ``users`` from the items they never interacted with."""
        free = self.free[users]
        u = torch.rand(users.shape[0], generator=generator, device=users.device)
        r = (u * free).long().clamp_(max=free - 1)
        below = torch.searchsorted(self.free_keys, users * self.n_items + r, right=True) - self.indptr[users]
        return 1 + r + below

    def _uses_native(self, users) -> bool:
        return self.compiled and users.device.type == "cpu" and self.n_items < 2**32 and native.library() is not None

    def _check_free(self, users):
        free = self.free[users]
        if bool((free <= 0).any()):
            bad = users[free <= 0][:5].tolist()
            raise ValueError(
                f"users {bad} interacted with every item in training, so no negative can be sampled"
            )


def random_seed(generator: torch.Generator | None) -> int:
    """A seed for a generator of another kind, drawn from the torch RNG (``generator`` or the
    global one), so that the torch seed decides its draws."""
    return int(torch.randint(0, 2**62, (), generator=generator))


def uniform_integers(low: int, high: int, generator: torch.Generator | None, device):
    """``draw(shape)``: uniform integers in [low, high) on ``device``, reproducible from the torch
    RNG (``generator`` or the global one); on CPU through a NumPy generator seeded from it."""
    if torch.device(device).type != "cpu":
        return lambda shape: torch.randint(low, high, shape, generator=generator, device=device)
    rng = np.random.default_rng(random_seed(generator))
    return lambda shape: torch.from_numpy(rng.integers(low, high, shape, dtype=np.int64))


def take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 1-D ``table`` (``torch.take``; ``np.take`` on CPU, the faster there)."""
    if table.device.type == "cpu":
        return torch.from_numpy(np.take(table.numpy(), index.numpy()))
    return torch.take(table, index)


def flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Indices of the True entries of a 1-D bool tensor (``np.flatnonzero`` on CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().squeeze(1)
