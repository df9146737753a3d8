"""The numerics the losses and models share, as plain functions on tensors (log space
throughout): PSL's surrogate activations and their derivative, the weighted activation sum of
PSL and CW, log-mean-exp, and InfoNCE between two views. Public: use them in your own losses."""

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
        return torch.add(d, 1.0).clamp_(min=tiny).log_()
    if activation == "atan":
        return torch.atan(d).add_(1.0).clamp_(min=tiny).log_()
    raise ValueError(f"unknown activation {activation!r}; valid choices: {list(ACTIVATIONS)}")


def d_log_activation(d: torch.Tensor, activation: str) -> torch.Tensor:
    """The derivative of :func:`log_activation` with respect to ``d`` (0 where it is floored)."""
    if activation == "exp":
        return torch.ones_like(d)
    if activation == "tanh":
        return torch.sigmoid(-2.0 * d).mul_(2.0)
    tiny = torch.finfo(d.dtype).tiny
    if activation == "relu":
        inner, slope = d + 1.0, None
    elif activation == "atan":
        inner, slope = torch.atan(d).add_(1.0), torch.square(d).add_(1.0)
    else:
        raise ValueError(f"unknown activation {activation!r}; valid choices: {list(ACTIVATIONS)}")
    floored = inner < tiny if _may_reach_floor(d, activation) else None
    grad = (inner if slope is None else inner.mul_(slope)).reciprocal_()
    return grad if floored is None else grad.masked_fill_(floored, 0.0)


def _may_reach_floor(d: torch.Tensor, activation: str) -> bool:
    """False when no entry of ``d`` has σ(d) below the floor (relu, atan). σ is increasing, so on
    CPU the smallest d decides (one read-only pass instead of a mask and a masked fill);
    elsewhere True, to avoid a host synchronisation."""
    if d.device.type != "cpu":
        return True
    if d.numel() == 0:
        return False
    low = d.detach().amin().reshape(1)
    inner = low + 1.0 if activation == "relu" else torch.atan(low).add_(1.0)
    return bool(inner < torch.finfo(d.dtype).tiny)


class _LogWeightedActivationSum(torch.autograd.Function):
    """Forward and backward of :func:`log_weighted_activation_sum` over [B, N] in a few fused
    passes, saving only d and the softmax weights (autograd's graph of the same formula keeps
    about ten [B, N] intermediates; docs/performance.md)."""

    @staticmethod
    def forward(ctx, d, tau, beta, activation):
        x = log_activation(d, activation)
        x = x.div(tau) if x is d else x.div_(tau)  # "exp" returns d itself
        if beta:
            x.add_(d, alpha=-beta)
        p, lse = _softmax_and_logsumexp_(x)
        ctx.save_for_backward(d, p)
        ctx.tau, ctx.beta, ctx.activation = tau, beta, activation
        if not beta:
            return lse
        return lse - _softmax_and_logsumexp_(d.mul(-beta), normalise=False)[1] + math.log(d.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        d, p = ctx.saved_tensors
        grad = d_log_activation(d, ctx.activation).div_(ctx.tau)
        if ctx.beta:
            grad.sub_(ctx.beta)
        return grad.mul_(p).mul_(grad_out.unsqueeze(1)), None, None, None


def _softmax_and_logsumexp_(x: torch.Tensor, normalise: bool = True):
    """Row-wise softmax (written into ``x``'s storage; unnormalised exp(x − max) with
    ``normalise=False``) and logsumexp of a finite [B, N] ``x``: one exp per entry."""
    top = x.amax(dim=1, keepdim=True)
    e = x.sub_(top).exp_()
    total = e.sum(dim=1, keepdim=True)
    if normalise:
        e.div_(total)
    return e, (top + total.log()).squeeze(1)


def log_weighted_activation_sum(d: torch.Tensor, tau: float, beta: float, activation: str) -> torch.Tensor:
    r"""Row-wise :math:`\log \sum_j \frac{w_j}{Z} \sigma(d_j)^{1/\tau}` for d [B, N], with
    :math:`w_j = e^{-\beta d_j}` and :math:`Z = \frac1N \sum_k w_k` treated as a constant
    (no gradient through Z). β = 0 gives PSL's :math:`\log \sum_j \sigma(d_j)^{1/\tau}`.

    Computed as logsumexp_j(log σ(d_j)/τ − β d_j) − logsumexp_j(−β d_j) + log N, with the
    gradient p_j (σ'(d_j)/(τ σ(d_j)) − β), p = softmax_j(log σ(d_j)/τ − β d_j).
    """
    return _LogWeightedActivationSum.apply(d, float(tau), float(beta), activation)


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


def kmeans(x: torch.Tensor, k: int, iterations: int = 25, generator: torch.Generator | None = None):
    """Lloyd's k-means of the rows of ``x`` [n, d] into min(k, n) clusters (k-means++-free: the
    centroids start at distinct random rows; an emptied cluster keeps its centroid):
    (centroids [k, d], assignment [n]). Vectorised: each iteration is one [n, k] product."""
    n = x.shape[0]
    k = min(k, n)
    centroids = x[torch.randperm(n, generator=generator, device="cpu")[:k].to(x.device)].clone()
    assignment = torch.zeros(n, dtype=torch.long, device=x.device)
    for _ in range(iterations):
        # argmin ||x - c||² = argmax (x·c - ||c||²/2)
        assignment = (x @ centroids.T - 0.5 * (centroids * centroids).sum(1)).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, x)
        counts = torch.bincount(assignment, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids, assignment


__all__ = [
    "ACTIVATIONS",
    "d_log_activation",
    "infonce",
    "kmeans",
    "log_activation",
    "log_mean_exp",
    "log_weighted_activation_sum",
]
