"""A tiny synthetic RecBole dataset for tests, examples and tries without a download: 40 users,
60 items in four blocks of 15; each user interacted with 10 random items of their own block
(user u with block u mod 4), so there is something personal to learn. Deterministic (seed 0)."""

from __future__ import annotations

from pathlib import Path

import torch

TOY_USERS, TOY_ITEMS = 40, 60


def write_toy_dataset(root) -> Path:
    """Write ``<root>/toy/toy.inter`` (atomic file: ``user_id:token``, ``item_id:token``) and
    return ``root``, the ``data_path`` to run with ``dataset="toy"``."""
    root = Path(root)
    g = torch.Generator().manual_seed(0)
    folder = root / "toy"
    folder.mkdir(exist_ok=True)
    lines = ["user_id:token\titem_id:token"]
    for u in range(TOY_USERS):
        # Users prefer items of their own block, so there is something to learn.
        block = torch.arange(15) + 15 * (u % 4)
        for i in block[torch.randperm(15, generator=g)[:10]].tolist():
            lines.append(f"u{u}\ti{i}")
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    return root


__all__ = ["TOY_ITEMS", "TOY_USERS", "write_toy_dataset"]
