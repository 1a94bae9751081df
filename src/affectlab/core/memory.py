"""Process-wide allocator setting for code that allocates and frees the same large buffers over
and over (an encoder's forward passes).

glibc's ``malloc`` serves every block above a (dynamic) threshold with its own ``mmap`` and hands it
back to the kernel when it is freed. A transformer's forward pass allocates and frees tens of MiB
of activations per batch, so every batch page-faults its memory in again: on the SemEval texts
(3,864 texts, all-MiniLM-L6-v2, 2 cores) that was 1-2 million minor page faults and 2-5 s of
system time, 5-10% of the encoding's wall time. :func:`keep_freed_memory` raises the thresholds so
that those blocks stay in the heap and are reused (blocks above 32 MiB still go back at once).
Only on glibc; elsewhere it does nothing and says so by returning False.

>>> keep_freed_memory() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: ``mallopt`` parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: blocks below this are served from the heap (glibc's largest allowed value on 64-bit systems)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory at the top of the heap beyond this goes back to the system
TRIM_THRESHOLD = 256 * 1024 * 1024


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Keep freed blocks of up to :data:`MMAP_THRESHOLD` in the heap for reuse (once per process).

    True when glibc accepted the settings, False where there is no glibc ``mallopt``.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
