"""Process-wide C allocator setting, applied once when `maildesk serve` starts.

Messages here reach 25 MB and taking one in and parsing it makes several buffers of that
size. glibc serves big allocations with mmap, but once such a buffer is freed it raises its
mmap threshold (up to 32 MB) and serves the next ones from the heap, which does not shrink:
one 25 MB message left the daemon ~180 MB larger for good and raised its peak by ~50 MB
(bench/memory.py). A fixed threshold stops that; mail of ordinary size never allocates that
much at once.

This is the documented glibc tunable M_MMAP_THRESHOLD (mallopt(3)); the same effect comes from
the environment variable MALLOC_MMAP_THRESHOLD_ read by glibc at exec. When that variable is
set (for example by the systemd unit, contrib/maildesk.service) it wins and nothing is done
here. It is process-wide, so it belongs to start-up, not to a listener (issue 14).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Set glibc's mmap threshold once; True when it was set here. Not glibc, or the
    environment already says: nothing to do."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False
