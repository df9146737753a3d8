"""Numerically stable building blocks shared by several losses (log space throughout)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ACTIVATIONS = ("relu", "tanh", "atan", "exp")
_LOG2 = math.log(2.0)


def log_activation(d: torch.Tensor, activation: str) -> torch.Tensor:
    r"""``log σ(d)`` for PSL's surrogate activations, stable in float32.

    - relu: σ(d) = relu(d + 1)
    - tanh: σ(d) = tanh(d) + 1, computed as log 2 − softplus(−2d) (exact, no cancellation)
    - atan: σ(d) = atan(d) + 1
    - exp:  σ(d) = exp(d), so log σ(d) = d

    relu and atan reach 0 (relu at d ≤ −1, atan at d ≤ −tan 1). There ``log σ`` is floored at
    ``log(finfo.tiny)`` instead of −inf, so a row whose negatives all sit at the floor keeps a
    finite loss and a zero (not NaN) gradient. With half-cosine scores, d ∈ [−1, 1], the floor is
    reached only at d = −1 exactly for relu and never for atan.
    """
    if activation == "exp":
        return d
    if activation == "tanh":
        return _LOG2 - F.softplus(-2.0 * d)
    tiny = torch.finfo(d.dtype).tiny
    if activation == "relu":
        return torch.log(torch.clamp(d + 1.0, min=tiny))
    if activation == "atan":
        return torch.log(torch.clamp(torch.atan(d) + 1.0, min=tiny))
    raise ValueError(f"unknown activation {activation!r}; valid choices: {list(ACTIVATIONS)}")


def log_mean_exp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(mean(exp(x)))`` along ``dim``."""
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


def infonce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""InfoNCE between two views of the same R objects, with cosine similarity.

    .. math::
        \frac{1}{R} \sum_r -\log \frac{\exp(\cos(a_r, p_r) / \tau)}
                                      {\sum_{s=1}^{R} \exp(\cos(a_r, p_s) / \tau)}

    ``anchor``, ``positive``: [R, d], row r of both describing the same object; the other rows of
    ``positive`` are its negatives (the positive pair is in the denominator, as in SELFRec's and
    RecBole-GNN's XSimGCL). Computed as logsumexp minus the diagonal, so no exp overflows at small
    τ. R = 0 gives a zero still tied to the graph.
    """
    if anchor.shape != positive.shape or anchor.dim() != 2:
        raise ValueError(
            f"infonce: anchor and positive must both be [R, d], got {tuple(anchor.shape)} "
            f"and {tuple(positive.shape)}"
        )
    if anchor.shape[0] == 0:
        return anchor.sum() * 0.0 + positive.sum() * 0.0
    logits = F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T / temperature  # [R, R]
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()
