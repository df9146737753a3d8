r"""Score functions: how user and item embeddings become the scores a loss ranks.

``dot`` is the plain inner product; ``cos`` the cosine; ``half_cos`` half the cosine (so score
differences lie in [−1, 1], the range PSL's and CW's activations were designed for). Every one is
a dot product after :func:`transform_embeddings`, so training (:func:`candidate_scores`) and
evaluation (one matrix product over all items) share the same arithmetic.

Candidate scoring, :math:`s_{bk} = \langle u_b, v_{c_{bk}} \rangle` for the [B, K] candidate ids
:math:`c`, runs as a fused sparse operation that never holds a [B, I] or [B, K, d] tensor
(:class:`SampledScores`):

- forward: one dot product per candidate;
- backward: :math:`\partial u_b = \sum_k g_{bk} v_{c_{bk}}`, a weighted sum over each row's
  candidates, and :math:`\partial v_i = \sum_{(b,k): c_{bk}=i} g_{bk} u_b` as segment sums over the
  candidates grouped by item (:func:`group_by_item`), so only the item rows touched receive a
  gradient and nothing of size [B·K, d] is scattered.

On CPU in float32/float64 the three passes are the package's C kernels (:mod:`recbole_losses.native`:
the candidates grouped by a counting sort once in the forward; scores and item gradient item by
item, user gradient row by row). Elsewhere (CUDA, other dtypes, no C compiler) they are torch's: a
sampled dense-dense product (``torch.sparse.sampled_addmm`` on the CSR pattern of the candidates)
forward; ``embedding_bag`` weighted sums backward, the item gradient's bags being the items after
one stable sort.

Where the catalogue is small against the candidates (at most ``FUSED_MIN_RATIO`` items per
candidate column) one [B, I] product and a gather is faster, and is used. Where the sparse
kernels cannot run (a dtype or device they do not support, checked once per
process on a small problem with repeated candidates) :func:`candidate_scores` falls back to the
dense paths — one [B, I] product and a gather, or a [B, K, d] gather — with one log line.
"""

from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F

from . import native

SCORE_FUNCTIONS = ("dot", "cos", "half_cos")

# Item table rows per candidate column up to which one [B, I] product and a gather beat the fused
# sparse scoring (small catalogues, many candidates: the [B, I] product is then cheap and the
# fused backward's sort dominates), and, for the dense fallback, up to which that product beats
# gathering a [B, K, d] tensor (docs/performance.md, "Candidate scoring").
FUSED_MIN_RATIO = 3
MATMUL_MAX_RATIO = 48

_logger = logging.getLogger(__name__)


_NORM_EPS = 1e-12  # F.normalize's default


class _NormalizeRows(torch.autograd.Function):
    r"""``F.normalize(x, dim=-1)``: :math:`y = x / \max(\lVert x \rVert, \epsilon)`, with the closed-form
    backward :math:`\partial x = (g - y \langle g, y \rangle) / \max(\lVert x \rVert, \epsilon)` (the
    projection 0 on rows whose norm is below ε): one pass each way in the package's C kernels on CPU
    in float32/float64, else three torch passes; autograd's graph of the same formula takes about
    ten times longer on a catalogue-sized table (docs/performance.md)."""

    @staticmethod
    def forward(ctx, x):
        if x.device.type == "cpu" and x.dtype in native.FLOAT_DTYPES and x.dim() == 2 and native.library() is not None:
            y, norm = native.normalize_rows(x, _NORM_EPS)
            ctx.save_for_backward(y, norm)
            return y
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        y = x / norm.clamp_min(_NORM_EPS)
        ctx.save_for_backward(y, norm)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, norm = ctx.saved_tensors
        if norm.dim() == 1:  # the C kernels' forward
            return native.normalize_rows_backward(grad, y, norm, _NORM_EPS)
        projection = (grad * y).sum(dim=-1, keepdim=True).masked_fill_(norm < _NORM_EPS, 0.0)
        return (grad - y * projection) / norm.clamp_min(_NORM_EPS)


def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` scaled to unit L2 norm, as ``F.normalize(x, dim=-1)`` (same values)."""
    return _NormalizeRows.apply(x)


def transform_embeddings(user_e: torch.Tensor, item_e: torch.Tensor, score: str):
    """Map embeddings so that the score is a plain dot product: dot, cos or half_cos."""
    if score == "dot":
        return user_e, item_e
    user_e, item_e = normalize_rows(user_e), normalize_rows(item_e)
    return (0.5 * user_e if score == "half_cos" else user_e), item_e


def _sampled_dot(user_e: torch.Tensor, item_table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """[B, K] dot products ⟨user_e[b], item_table[items[b, k]]⟩ by a sampled dense-dense product."""
    b, k = items.shape
    crow = torch.arange(0, b * k + 1, k, device=items.device, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        pattern = torch.sparse_csr_tensor(
            crow, items.reshape(-1), torch.zeros(b * k, dtype=user_e.dtype, device=user_e.device),
            size=(b, item_table.shape[0]), check_invariants=False,
        )
    return torch.sparse.sampled_addmm(pattern, user_e, item_table.T).values().view(b, k)


def group_by_item(items: torch.Tensor, n_items: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The candidates ``items`` [B, K] grouped by item: ``offsets`` [I] (where each item's run
    starts), ``order`` [B·K] (flat candidate indices, items ascending, flat index ascending within an
    item) and ``rows`` [B·K] (the row of each). On CPU a counting sort in C where the package's
    kernels are built (:mod:`recbole_losses.native`), else one stable sort of (item, row) keys:
    the same permutation either way."""
    if items.device.type == "cpu" and items.numel() < 2**31 and native.library() is not None:
        return native.group_by_item(items, n_items)
    b = items.shape[0]
    shift = max(b - 1, 1).bit_length()  # key = item · 2^shift + row: sorting by it groups by item
    # int32 keys where they fit: a stable sort of integers is a radix sort, faster on fewer bytes
    dtype = torch.int32 if n_items << shift < 2**31 else torch.int64
    rows = torch.arange(b, device=items.device, dtype=dtype).unsqueeze(1)
    keys, order = torch.sort((items.to(dtype) << shift).add_(rows).reshape(-1), stable=True)
    counts = torch.bincount(keys >> shift, minlength=n_items)
    offsets = (torch.cumsum(counts, 0) - counts).to(dtype)  # where each item's segment starts
    return offsets, order, keys & ((1 << shift) - 1)


def _item_gradient(user_e: torch.Tensor, n_items: int, items: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """[I, d]: row i is Σ over candidates (b, k) with items[b, k] = i of grad[b, k] · user_e[b]."""
    offsets, order, rows = group_by_item(items, n_items)
    return F.embedding_bag(rows, user_e, offsets, mode="sum", per_sample_weights=grad.reshape(-1)[order])


def _runs_natively(user_e: torch.Tensor, item_table: torch.Tensor, items: torch.Tensor) -> bool:
    """Whether the package's C kernels score these tensors: CPU, float32 or float64, fewer than 2^31
    candidates, kernels built."""
    return (user_e.device.type == "cpu" and user_e.dtype == item_table.dtype and user_e.dtype in native.FLOAT_DTYPES
            and items.numel() < 2**31 and native.library() is not None)


class SampledScores(torch.autograd.Function):
    """Fused candidate scores [B, K] (see the module docstring): ``SampledScores.apply(user_e [B, d],
    item_table [I, d], items [B, K] int64)``. On CPU in float32/float64 the three passes are the
    package's C kernels (:func:`recbole_losses.native.sampled_dot`, ``user_gradient``,
    ``item_gradient``), else torch's sparse and ``embedding_bag`` kernels."""

    @staticmethod
    def forward(ctx, user_e, item_table, items):
        ctx.save_for_backward(user_e, item_table, items)
        ctx.grouping = None
        if _runs_natively(user_e, item_table, items):
            ctx.grouping = native.group_by_item(items, item_table.shape[0])  # for the backward too
            return native.sampled_dot(user_e, item_table, items, ctx.grouping)
        return _sampled_dot(user_e, item_table, items)

    @staticmethod
    def backward(ctx, grad):
        user_e, item_table, items = ctx.saved_tensors
        grad = grad.contiguous()
        in_c = ctx.grouping is not None
        grad_user = grad_items = None
        if ctx.needs_input_grad[0]:
            grad_user = (native.user_gradient(grad, item_table, items) if in_c
                         else F.embedding_bag(items, item_table, mode="sum", per_sample_weights=grad))
        if ctx.needs_input_grad[1]:
            grad_items = (native.item_gradient(grad, user_e, ctx.grouping, item_table.shape[0]) if in_c
                          else _item_gradient(user_e, item_table.shape[0], items, grad))
        return grad_user, grad_items, None


def dense_candidate_scores(user_e: torch.Tensor, item_table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """The dense paths, same values: one [B, I] product and a gather when the table has at most
    ``MATMUL_MAX_RATIO`` rows per candidate column, else a [B, K, d] gather and a batched product."""
    if item_table.shape[0] <= MATMUL_MAX_RATIO * items.shape[1]:
        return (user_e @ item_table.T).gather(1, items)
    return torch.bmm(item_table[items], user_e.unsqueeze(2)).squeeze(2)


_fused_support: dict[tuple[str, torch.dtype], bool] = {}


def fused_scoring_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether :class:`SampledScores` runs and agrees with the dense path on ``device``/``dtype``:
    tried once per process on a small problem (repeated and unsorted candidates), one log line
    when it cannot."""
    key = (torch.device(device).type, dtype)
    if key not in _fused_support:
        generator = torch.Generator().manual_seed(0)
        user = torch.randn(3, 4, generator=generator).to(device=device, dtype=dtype).requires_grad_()
        table = torch.randn(7, 4, generator=generator).to(device=device, dtype=dtype).requires_grad_()
        items = torch.tensor([[5, 1, 5, 0], [6, 6, 6, 6], [2, 0, 3, 1]], device=device)
        try:
            fused = SampledScores.apply(user, table, items)
            fused_grads = torch.autograd.grad(fused.sum(), (user, table))
            dense = (user.unsqueeze(1) * table[items]).sum(-1)
            dense_grads = torch.autograd.grad(dense.sum(), (user, table))
            tolerance = dict(rtol=1e-2, atol=1e-2) if dtype in (torch.float16, torch.bfloat16) else {}
            for got, want in zip((fused, *fused_grads), (dense, *dense_grads)):
                torch.testing.assert_close(got, want, **tolerance)
            _fused_support[key] = True
        except Exception as error:  # any failure means: use the dense paths on this device/dtype
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            _logger.info(
                f"fused candidate scoring is unavailable on {key[0]} / {dtype} ({type(error).__name__}: "
                f"{first_line}); using the dense [B, I] / [B, K, d] paths"
            )
            _fused_support[key] = False
    return _fused_support[key]


def candidate_scores(user_e: torch.Tensor, item_table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Scores [B, K] of ``items`` [B, K] for ``user_e`` [B, d] against ``item_table`` [I, d]:
    :class:`SampledScores` where the table has more than ``FUSED_MIN_RATIO`` rows per candidate
    column and the fused kernels run (:func:`fused_scoring_available`), else
    :func:`dense_candidate_scores`."""
    if (
        item_table.shape[0] > FUSED_MIN_RATIO * items.shape[1]
        and user_e.dtype == item_table.dtype
        and fused_scoring_available(user_e.device, user_e.dtype)
    ):
        return SampledScores.apply(user_e, item_table, items)
    return dense_candidate_scores(user_e, item_table, items)


__all__ = [
    "FUSED_MIN_RATIO",
    "MATMUL_MAX_RATIO",
    "SCORE_FUNCTIONS",
    "SampledScores",
    "candidate_scores",
    "dense_candidate_scores",
    "fused_scoring_available",
    "group_by_item",
    "normalize_rows",
    "transform_embeddings",
]
