"""Ranks of a row's candidates and the DCG discount, shared by the losses that read positions
(the lambda losses' weights, GuidedRec's true DCG)."""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def candidate_ranks(pos_score: torch.Tensor, neg_score: torch.Tensor, sampled_pos_score: torch.Tensor | None = None,
                    n_items: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(π_ui [B], π_uj [B, N]): the positions (1 = highest score) of the positive and of the
    negatives among the row's candidates (the positive, its N negatives and its M sampled
    positives when given), without gradient. Ties are broken against the positive (a tied
    negative or sampled positive is ranked above it) and among negatives by their column order.
    With ``n_items`` = I, each rank is mapped to an estimate of the full-catalogue rank,
    1 + (π − 1)·max(1, (I − 1)/(C − 1)), C the number of candidates."""
    parts = [neg_score, pos_score.unsqueeze(1)]
    if sampled_pos_score is not None:
        parts.insert(1, sampled_pos_score)
    candidates = torch.cat(parts, dim=1).detach()  # [B, C]: ties resolve in this order
    b, c = candidates.shape
    order = torch.sort(candidates, dim=1, descending=True, stable=True).indices  # [B, C]
    positions = torch.arange(1, c + 1, dtype=candidates.dtype, device=candidates.device)
    rank = torch.empty_like(candidates).scatter_(1, order, positions.expand(b, c))  # [B, C]
    if n_items is not None:
        rank = 1.0 + (rank - 1.0) * max(1.0, (n_items - 1) / max(c - 1, 1))
    n = neg_score.shape[1]
    return rank[:, -1], rank[:, :n]


def dcg_discount(rank: torch.Tensor) -> torch.Tensor:
    """1 / log2(1 + π), the DCG discount at rank π."""
    return math.log(2.0) / torch.log1p(rank)
