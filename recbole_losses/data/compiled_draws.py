r"""Uniform negatives drawn and checked in one compiled pass, on CPU.

The NumPy path of :class:`~recbole_losses.data.sampler.TrainingItemSampler` makes about ten passes
over the [B, N] draws (draw, key, membership lookup, bit test, hit positions, re-draws); this one
makes one: ``negative_draws.c`` (shipped beside this module) draws each entry, checks it against
the user's sorted training items by binary search and re-draws in place, so neither a (user, item)
table nor a bitmap is read. Entry e = b·N + j has its own counter-based stream
(x_a = mix(mix(seed + e·G) + a·G), SplitMix64's mixer and Weyl constant G) and each number becomes
an item by Lemire's multiply-shift with rejection, so the draws are exactly uniform over the items
the user has not interacted with, and the same for any number of threads.

The file is compiled once per process with the C compiler (``$CC``, else ``cc``) into a
temporary folder and loaded with ``ctypes``, which releases the GIL, so the rows are split over
``torch.get_num_threads()`` threads. The compile time is logged; where no compiler works, one log
line says so and the sampler keeps its NumPy draws (a different random stream: ``compiled_sampler:
False`` selects that stream everywhere).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("negative_draws.c")
# Rows per thread below which one thread draws the whole batch (thread start-up costs more).
MIN_ENTRIES_PER_THREAD = 1 << 16
_POINTER = ctypes.c_void_p
_ARGUMENTS = [_POINTER, _POINTER, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _POINTER, _POINTER, _POINTER,
              ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64]
_logger = logging.getLogger(__name__)


@functools.cache
def kernel():
    """The compiled ``draw_negatives``, built once per process; None (with one log line) where
    no C compiler can build it."""
    compiler = os.environ.get("CC") or "cc"
    start = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="recbole_losses_draws_")
    library = os.path.join(folder, "negative_draws.so")
    try:
        subprocess.run([compiler, "-O3", "-shared", "-fPIC", "-o", library, str(SOURCE)],
                       check=True, capture_output=True, text=True, timeout=300)
        function = ctypes.CDLL(library).draw_negatives
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        _logger.info(f"compiled negative sampler unavailable ({compiler}: {detail.strip().splitlines()[-1]}); "
                     "drawing negatives with NumPy")
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the loaded library stays mapped
    function.argtypes, function.restype = _ARGUMENTS, ctypes.c_int
    _logger.info(f"compiled the negative sampler with {compiler} in {time.perf_counter() - start:.2f} s")
    return function


@functools.cache
def _threads(workers: int, pid: int) -> ThreadPoolExecutor:
    """A pool per process (``pid``: a forked DataLoader worker must not reuse its parent's)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recbole_losses_draws")


def negatives(function, users: torch.Tensor, num: int, indptr: torch.Tensor, indices: torch.Tensor,
              free_keys: torch.Tensor, n_items: int, seed: int, max_rounds: int) -> torch.Tensor:
    """[B, num] uniform negatives of the CPU ``users`` (the module docstring's stream from ``seed``)."""
    users = users.to(torch.long).contiguous()
    rows = users.shape[0]
    out = torch.empty(rows, num, dtype=torch.long)
    workers = max(1, min(torch.get_num_threads(), rows, rows * num // MIN_ENTRIES_PER_THREAD))
    bounds = [rows * k // workers for k in range(workers + 1)]
    pointers = [t.data_ptr() for t in (out, users)], [t.data_ptr() for t in (indptr, indices, free_keys)]

    def draw(k: int) -> None:
        if function(*pointers[0], bounds[k], bounds[k + 1], num, *pointers[1], n_items, seed, max_rounds):
            raise MemoryError(f"no memory for the compiled sampler's bit set of {n_items} items")

    if workers == 1:
        draw(0)
    else:
        list(_threads(workers, os.getpid()).map(draw, range(workers)))
    return out
