"""Keep the server's memory close to what it really holds: large buffers go back to the system when freed.

A download holds one 512 KiB piece while its client reads it (api/streaming). glibc's malloc, by default, starts
serving blocks of that size from its per-thread arenas once the first such block has been freed (its "dynamic mmap
threshold"), and an arena keeps freed memory for later. With a hundred slow downloads produced by 40 worker
threads, that kept memory cost more than the pieces themselves: about 1.2-1.8 MiB per connection instead of 0.7
(bench/slow_downloads.py, docs/performance.md). Fixing the threshold makes every block of 256 KiB or more a
mapping of its own, unmapped when freed, at the price of a page fault per 4 KiB of each such block.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
LARGE_BLOCK = 256 * 1024


def return_large_blocks_to_the_system(threshold: int = LARGE_BLOCK) -> bool:
    """Ask glibc's malloc to map blocks of `threshold` bytes or more on their own; False where there is no glibc
    malloc to ask (macOS, or a libc whose `mallopt` refuses)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
