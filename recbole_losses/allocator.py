r"""Keep freed tensor memory in the process on Linux (glibc), so a training step does not fault
its buffers in from the kernel again at every step.

PyTorch on CPU has no caching allocator: each tensor's buffer comes from ``malloc`` and goes back
with ``free``. glibc serves blocks above its mmap threshold (128 KiB, raised dynamically up to
32 MiB) with a fresh ``mmap`` and unmaps them on ``free``; the heap above its trim threshold is
returned to the kernel. A Gowalla step allocates and frees tens of such buffers (18 MiB embedding
tables and their gradients, 4–8 MiB candidate tensors), so every step paid the kernel to map and
zero them again — about two thirds of an MF step on a 2-core machine (docs/performance.md).

:func:`keep_freed_memory` sets ``M_MMAP_THRESHOLD`` to glibc's largest value (32 MiB on 64-bit
Linux) and ``M_TRIM_THRESHOLD`` to 2 GiB (its largest value, a C int) through ``mallopt``: buffers are then reused from the
heap. The cost is that the process's resident memory stays at its peak instead of shrinking after
a step. Called once per process by every run (:func:`recbole_losses.quick_start.build_run`);
``RECBOLE_LOSSES_KEEP_MEMORY=0`` turns it off; elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum (HEAP_MAX_SIZE / 2 on 64-bit)
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the glibc settings above once per process; True where they are in force."""
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get("RECBOLE_LOSSES_KEEP_MEMORY", "1") != "0" and platform.system() == "Linux":
            libc_name = ctypes.util.find_library("c")
            try:
                mallopt = ctypes.CDLL(libc_name).mallopt
            except (OSError, AttributeError, TypeError):  # not glibc (musl has no mallopt)
                mallopt = None
            if mallopt is not None:
                _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
                    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
                )
                if not _applied:
                    logging.getLogger(__name__).info("glibc's mallopt refused the memory-reuse settings")
    return _applied
