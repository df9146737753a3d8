"""Score functions: how user and item embeddings become the scores a loss ranks.

``dot`` is the plain inner product; ``cos`` the cosine; ``half_cos`` half the cosine (so score
differences lie in [−1, 1], the range PSL's and CW's activations were designed for). Every one is
a dot product after :func:`transform_embeddings`, so training (:func:`candidate_scores`) and
evaluation (one matrix product over all items) share the same arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SCORE_FUNCTIONS = ("dot", "cos", "half_cos")

# Item table rows per candidate column below which one [B, I] product and a gather beat gathering
# a [B, K, d] tensor (docs/performance.md, "Candidate scoring").
MATMUL_MAX_RATIO = 48


def transform_embeddings(user_e: torch.Tensor, item_e: torch.Tensor, score: str):
    """Map embeddings so that the score is a plain dot product: dot, cos or half_cos."""
    if score == "dot":
        return user_e, item_e
    user_e, item_e = F.normalize(user_e, dim=-1), F.normalize(item_e, dim=-1)
    return (0.5 * user_e if score == "half_cos" else user_e), item_e


def candidate_scores(user_e: torch.Tensor, item_table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Scores [B, K] of ``items`` [B, K] for ``user_e`` [B, d] against ``item_table`` [I, d].

    Two paths with the same values: one [B, I] matrix product and a gather when the table has
    at most ``MATMUL_MAX_RATIO`` rows per candidate column, else a gather of the [B, K, d]
    candidate embeddings and a batched product.
    """
    if item_table.shape[0] <= MATMUL_MAX_RATIO * items.shape[1]:
        return (user_e @ item_table.T).gather(1, items)
    return torch.bmm(item_table[items], user_e.unsqueeze(2)).squeeze(2)


__all__ = ["MATMUL_MAX_RATIO", "SCORE_FUNCTIONS", "candidate_scores", "transform_embeddings"]
