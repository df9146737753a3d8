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
temporary folder and loaded with ``ctypes``. Built with OpenMP, it splits the rows over
``torch.get_num_threads()`` threads and, where torch ships the same ``libgomp.so.1`` (its Linux
wheels do), runs on torch's own OpenMP threads instead of competing with them. The compile time is
logged; where no compiler works, one log
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
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("negative_draws.c")
# Entries ([B, N] cells) below which one thread draws the whole batch (threads cost more).
MIN_PARALLEL_ENTRIES = 1 << 16
_POINTER = ctypes.c_void_p
_ARGUMENTS = [_POINTER, _POINTER, ctypes.c_int64, ctypes.c_int64, _POINTER, _POINTER, _POINTER, ctypes.c_int64,
              ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64]
_logger = logging.getLogger(__name__)


@functools.cache
def kernel():
    """The compiled ``draw_negatives``, built once per process (with OpenMP where the compiler
    has it, else on one thread); None, with one log line, where no C compiler can build it."""
    compiler = os.environ.get("CC") or "cc"
    start = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="recbole_losses_draws_")
    library = os.path.join(folder, "negative_draws.so")
    try:
        for threads in (["-fopenmp"], []):
            try:
                subprocess.run([compiler, "-O3", "-shared", "-fPIC", *threads, "-o", library, str(SOURCE)],
                               check=True, capture_output=True, text=True, timeout=300)
                function = ctypes.CDLL(library).draw_negatives
                break
            except (OSError, subprocess.SubprocessError) as error:
                failure = error
        else:
            detail = (getattr(failure, "stderr", None) or str(failure)).strip().splitlines()
            _logger.info(f"compiled negative sampler unavailable ({compiler}: {detail[-1] if detail else failure!r}); "
                         "drawing negatives with NumPy")
            return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the loaded library stays mapped
    function.argtypes, function.restype = _ARGUMENTS, ctypes.c_int
    _logger.info(f"compiled the negative sampler with {compiler}{' (OpenMP)' if threads else ''} "
                 f"in {time.perf_counter() - start:.2f} s")
    return function


def negatives(function, users: torch.Tensor, num: int, indptr: torch.Tensor, indices: torch.Tensor,
              free_keys: torch.Tensor, n_items: int, seed: int, max_rounds: int) -> torch.Tensor:
    """[B, num] uniform negatives of the CPU ``users`` (the module docstring's stream from ``seed``)."""
    users = users.to(torch.long).contiguous()
    out = torch.empty(users.shape[0], num, dtype=torch.long)
    if function(out.data_ptr(), users.data_ptr(), users.shape[0], num, indptr.data_ptr(), indices.data_ptr(),
                free_keys.data_ptr(), n_items, seed, max_rounds, MIN_PARALLEL_ENTRIES):
        raise MemoryError(f"no memory for the compiled sampler's bit sets of {n_items} items")
    return out
