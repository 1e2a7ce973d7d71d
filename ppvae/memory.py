"""Keep freed memory in the process for reuse instead of returning it to the OS (glibc).

By default glibc's malloc hands large freed blocks back to the kernel, so the next tensor
of that size is faulted in and zeroed again, page by page. The importance-sampled log p(x)
makes a few such tensors (16 MB each) per test image, and an M2 step's enumerated batches
are of that order too: keeping them for reuse makes both faster for some networks
(BENCHMARKS.md). ``ppvae evaluate``, ``train`` and ``ssl`` take ``--keep-freed-memory``;
Python users may call :func:`keep_freed_memory`. The cost: the process keeps up to its peak
memory until it exits.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # blocks below this come from the heap (glibc's maximum)
TRIM_THRESHOLD = 1 << 30  # free memory at the top of the heap kept up to this much


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks (< 32 MB) for reuse; False where not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        libc.gnu_get_libc_version  # noqa: B018  (present only in glibc)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
