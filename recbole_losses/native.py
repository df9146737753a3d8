r"""The package's C kernels (``native.c``, shipped beside this module), compiled once per process.

- ``draw_negatives``: uniform negatives drawn and checked in one pass. The NumPy path of
  :class:`~recbole_losses.data.sampler.TrainingItemSampler` makes about ten passes over the
  [B, N] draws (draw, key, membership lookup, bit test, hit positions, re-draws); this kernel makes
  one, checking each draw against a bit set of the user's training items, so no (user, item) table
  or bitmap is read. Row b has its own stream (wyrand from mix(seed + b·G), each 64-bit number
  used as two 32-bit halves, each bounded by Lemire's multiply-shift with rejection), so the draws
  are exactly uniform over the items the user has not interacted with, and the same for any
  number of threads; the stream is not NumPy's, so
  ``compiled_sampler: False`` keeps the NumPy draws.
- ``draw_positives``: the M sampled positives of each row, on the same kind of row stream (one
  call instead of eight small torch operations).
- ``group_by_item``: the stable counting sort of the candidates by item
  (:func:`recbole_losses.scoring.group_by_item`): the same permutation as a stable sort of
  (item, row) keys, in two passes instead of a radix sort and a bincount.
- ``sampled_dot``, ``user_gradient``, ``item_gradient``: the fused candidate scoring on CPU
  (:class:`recbole_losses.scoring.SampledScores`) in float32 and float64. The scores and the item
  gradient go item by item over that grouping, so each table row is read once and the user rows
  (B·d values) stay in cache; the user gradient goes row by row.
- ``normalize_rows`` and its backward: the cosine scores' row normalisation, one pass each way
  (:func:`recbole_losses.scoring.normalize_rows`).
- ``csr_matmul``: graph propagation's CSR product, rows balanced over the threads, optionally
  adding itself to a running layer sum and dividing it in the same pass (LightGCN's layer mean,
  :mod:`recbole_losses.models.graph`).

The floating-point kernels compute every output entry on one thread and sum in fixed-width
vectors (64 bytes) in an order set by the code, so they give the same bits for any number of
threads.

:func:`library` compiles the file with the C compiler (``$CC``, else ``cc``; with
``-march=native -ffp-contract=off -fopenmp``, else without ``-march=native``, else for one thread)
into a temporary folder and loads it with ``ctypes``. ``-march=native`` builds for the machine's
vector units (the file is compiled where it runs); ``-ffp-contract=off`` keeps every product and
sum rounded as written (no fused multiply-adds), so the floating-point kernels give the same bits
on any machine, whatever its vector width.
With OpenMP the kernels split their rows over ``torch.get_num_threads()`` threads and, where torch
ships the same ``libgomp.so.1`` (its Linux wheels do), run on torch's own OpenMP threads instead of
competing with them. The compile time is logged; where no compiler works, one log line says so and
the callers keep their torch/NumPy paths. ``RECBOLE_LOSSES_NATIVE=0`` turns the kernels off.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("native.c")
# Entries ([B, K] cells) below which a kernel runs on one thread (threads cost more).
MIN_PARALLEL_ENTRIES = 1 << 16
_P, _I = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {  # name: argument types (each returns 0; -1 out of memory; -2 a user without items)
    "draw_negatives": [_P, _P, _I, _I, _P, _P, _P, _I, ctypes.c_uint64, _I, _I],
    "draw_positives": [_P, _P, _I, _I, _P, _P, ctypes.c_uint64],
    "group_by_item": [_P, _I, _I, _I, _P, _P, _P, _I],
    **{f"user_gradient_{suffix}": [_P, _P, _P, _P, _I, _I, _I, _I] for suffix in ("f32", "f64")},
    **{f"{kernel}_{suffix}": [_P, _P, _P, _P, _P, _P, _I, _I, _I, _I]
       for kernel in ("sampled_dot", "item_gradient") for suffix in ("f32", "f64")},
    **{f"csr_matmul_{suffix}": [_P, _P, _P, _P, _P, _P, _P, _I, _I, c_type, _I]
       for suffix, c_type in (("f32", ctypes.c_float), ("f64", ctypes.c_double))},
    **{f"normalize_rows_{suffix}": [_P, _P, _P, _I, _I, c_type, _I]
       for suffix, c_type in (("f32", ctypes.c_float), ("f64", ctypes.c_double))},
    **{f"normalize_rows_backward_{suffix}": [_P, _P, _P, _P, _I, _I, c_type, _I]
       for suffix, c_type in (("f32", ctypes.c_float), ("f64", ctypes.c_double))},
}
# The floating-point kernels' element types (the suffix of their C names).
FLOAT_DTYPES = {torch.float32: "f32", torch.float64: "f64"}
# Compiler flags, tried in turn: for this machine's vector units with OpenMP, then portable, then one thread.
_FLAG_SETS = (["-march=native", "-ffp-contract=off", "-fopenmp"], ["-ffp-contract=off", "-fopenmp"],
              ["-ffp-contract=off"], [])
_logger = logging.getLogger(__name__)


@functools.cache
def library():
    """The compiled kernels (a ``ctypes.CDLL``), built once per process; None, with one log line,
    where they are turned off or no C compiler can build them."""
    if os.environ.get("RECBOLE_LOSSES_NATIVE", "1") == "0":
        _logger.info("C kernels turned off (RECBOLE_LOSSES_NATIVE=0); using the torch/NumPy paths")
        return None
    compiler = os.environ.get("CC") or "cc"
    start = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="recbole_losses_native_")
    path = os.path.join(folder, "native.so")
    try:
        for flags in _FLAG_SETS:
            try:
                subprocess.run([compiler, "-O3", "-shared", "-fPIC", *flags, "-o", path, str(SOURCE)],
                               check=True, capture_output=True, text=True, timeout=300)
                loaded = ctypes.CDLL(path)
                break
            except (OSError, subprocess.SubprocessError) as error:
                failure = error
        else:
            detail = (getattr(failure, "stderr", None) or str(failure)).strip().splitlines()
            _logger.info(f"C kernels unavailable ({compiler}: {detail[-1] if detail else repr(failure)}); "
                         "using the torch/NumPy paths")
            return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the loaded library stays mapped
    for name, arguments in _SIGNATURES.items():
        function = getattr(loaded, name)
        function.argtypes, function.restype = arguments, ctypes.c_int
    _logger.info(f"compiled the C kernels with {compiler}{' (OpenMP)' if '-fopenmp' in flags else ''} "
                 f"in {time.perf_counter() - start:.2f} s")
    return loaded


def _check(status: int, what: str) -> None:
    if status:
        raise MemoryError(f"no memory for {what}")


def draw_negatives(users: torch.Tensor, num: int, indptr: torch.Tensor, indices: torch.Tensor,
                   free_keys: torch.Tensor, n_items: int, seed: int, max_rounds: int) -> torch.Tensor:
    """[B, num] uniform negatives of the CPU ``users`` from ``seed`` (the stream above), given the
    training split as CSR (``indptr``, ascending ``indices``) and the complement keys of
    :class:`~recbole_losses.data.sampler.TrainingItemSampler`."""
    users = users.to(torch.long).contiguous()
    out = torch.empty(users.shape[0], num, dtype=torch.long)
    _check(library().draw_negatives(out.data_ptr(), users.data_ptr(), users.shape[0], num, indptr.data_ptr(),
                                    indices.data_ptr(), free_keys.data_ptr(), n_items, seed, max_rounds,
                                    MIN_PARALLEL_ENTRIES), f"the sampler's bit sets of {n_items} items")
    return out


def draw_positives(users: torch.Tensor, num: int, indptr: torch.Tensor, indices: torch.Tensor,
                   seed: int) -> torch.Tensor | None:
    """[B, num] draws with replacement from each CPU user's training items (CSR ``indptr``,
    ``indices``) from ``seed``; None where a user has no training items."""
    users = users.to(torch.long).contiguous()
    out = torch.empty(users.shape[0], num, dtype=torch.long)
    status = library().draw_positives(out.data_ptr(), users.data_ptr(), users.shape[0], num, indptr.data_ptr(),
                                      indices.data_ptr(), seed)
    return None if status == -2 else out


def group_by_item(items: torch.Tensor, n_items: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For CPU ``items`` [B, K]: ``offsets`` [n_items] (where each item's run starts), ``order``
    [B·K] (flat candidate indices grouped by item, ascending within an item) and ``rows`` [B·K]
    (the row of each), all int32, so ``items`` has fewer than 2^31 entries."""
    items = items.to(torch.long).contiguous()
    rows, cols = items.shape
    offsets = torch.empty(n_items, dtype=torch.int32)
    order, row_of = torch.empty(rows * cols, dtype=torch.int32), torch.empty(rows * cols, dtype=torch.int32)
    _check(library().group_by_item(items.data_ptr(), rows, cols, n_items, offsets.data_ptr(), order.data_ptr(),
                                   row_of.data_ptr(), MIN_PARALLEL_ENTRIES), f"the counts of {n_items} items")
    return offsets, order, row_of


def _float_kernel(name: str, dtype: torch.dtype):
    return getattr(library(), f"{name}_{FLOAT_DTYPES[dtype]}")


def sampled_dot(user: torch.Tensor, table: torch.Tensor, items: torch.Tensor, grouping) -> torch.Tensor:
    """[B, K] scores ⟨user[b], table[items[b, k]]⟩ for CPU float32/float64 ``user`` [B, d] and
    ``table`` [I, d] (one dtype), given ``grouping = group_by_item(items, I)``."""
    user, table = user.contiguous(), table.contiguous()
    scores = torch.empty(items.shape, dtype=user.dtype)
    _float_kernel("sampled_dot", user.dtype)(scores.data_ptr(), user.data_ptr(), table.data_ptr(),
                                               *(t.data_ptr() for t in grouping), table.shape[0], items.numel(),
                                               user.shape[1], MIN_PARALLEL_ENTRIES)
    return scores


def user_gradient(grad: torch.Tensor, table: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """[B, d]: row b is Σ_k grad[b, k] · table[items[b, k]] (the candidate scores' user gradient)."""
    grad, table, items = grad.contiguous(), table.contiguous(), items.to(torch.long).contiguous()
    out = torch.empty(items.shape[0], table.shape[1], dtype=table.dtype)
    _float_kernel("user_gradient", table.dtype)(out.data_ptr(), grad.data_ptr(), table.data_ptr(), items.data_ptr(),
                                                  *items.shape, table.shape[1], MIN_PARALLEL_ENTRIES)
    return out


def item_gradient(grad: torch.Tensor, user: torch.Tensor, grouping, n_items: int) -> torch.Tensor:
    """[n_items, d]: row i is Σ over candidates (b, k) with items[b, k] = i of grad[b, k] · user[b],
    in the candidates' flat order, given ``grouping = group_by_item(items, n_items)`` (the
    candidate scores' item gradient; rows of untouched items are zero)."""
    grad, user = grad.contiguous(), user.contiguous()
    out = torch.empty(n_items, user.shape[1], dtype=user.dtype)
    _float_kernel("item_gradient", user.dtype)(out.data_ptr(), grad.data_ptr(), user.data_ptr(),
                                                 *(t.data_ptr() for t in grouping), n_items, grad.numel(),
                                                 user.shape[1], MIN_PARALLEL_ENTRIES)
    return out


def csr_matmul(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, dense: torch.Tensor,
               total: torch.Tensor | None = None, base: torch.Tensor | None = None, divisor: float = 1.0,
               store: bool = True) -> torch.Tensor | None:
    """P = ``A @ dense`` for the CSR matrix A = (``indptr``, ``indices``, ``values``) (int64 indices,
    ``values`` and ``dense`` CPU float32/float64 of one dtype), each row's products summed in order;
    returned where ``store``. Where ``total`` (contiguous, P's shape) is given, also, in the same
    pass, ``total = (base + P) / divisor`` (``base`` defaults to ``total`` itself; no division
    where ``divisor`` is 1)."""
    dense, values = dense.contiguous(), values.contiguous()
    base = None if base is None else base.contiguous()
    if total is not None and not total.is_contiguous():
        raise ValueError("csr_matmul: total must be contiguous (it is written in place)")
    rows = indptr.shape[0] - 1
    out = torch.empty(rows, dense.shape[1], dtype=dense.dtype) if store else None
    address = lambda t: 0 if t is None else t.data_ptr()  # noqa: E731
    _float_kernel("csr_matmul", dense.dtype)(address(out), address(total), address(base), indptr.data_ptr(),
                                            indices.data_ptr(), values.data_ptr(), dense.data_ptr(), rows,
                                            dense.shape[1], divisor, MIN_PARALLEL_ENTRIES)
    return out


def normalize_rows(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, norms): the rows of the CPU float32/float64 matrix ``x`` divided by max(‖row‖, eps), and
    each row's norm ‖row‖."""
    x = x.contiguous()
    y, norms = torch.empty_like(x), torch.empty(x.shape[0], dtype=x.dtype)
    _float_kernel("normalize_rows", x.dtype)(y.data_ptr(), norms.data_ptr(), x.data_ptr(), *x.shape, eps,
                                             MIN_PARALLEL_ENTRIES)
    return y, norms


def normalize_rows_backward(grad: torch.Tensor, y: torch.Tensor, norms: torch.Tensor, eps: float) -> torch.Tensor:
    """The gradient of :func:`normalize_rows`: (grad − y ⟨grad, y⟩) / max(‖x‖, eps) row by row,
    the projection 0 on rows whose norm is below eps."""
    grad = grad.contiguous()
    out = torch.empty_like(y)
    _float_kernel("normalize_rows_backward", y.dtype)(out.data_ptr(), grad.data_ptr(), y.data_ptr(), norms.data_ptr(),
                                                      *y.shape, eps, MIN_PARALLEL_ENTRIES)
    return out
