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
