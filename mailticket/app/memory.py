"""Big buffers go back to the system when freed (glibc only): `return_big_buffers`, once at start-up.

glibc serves a big malloc from mmap and gives it back on free, but after the first such free it
raises that threshold to the freed size (up to 32 MB): the next big buffers (a 27 MB raw message read
again, its attachment decoded, the mail that carries it) then come from the heap, small allocations
settle in the freed space, and each one needs fresh memory. Forwarding a 20 MB file cost 4 copies
of it in max RSS instead of the 2.4 it holds at once. A fixed threshold (M_MMAP_THRESHOLD) keeps
every buffer over 1 MiB in its own mapping, returned on free; the cost is an mmap per such buffer,
which only mail with files has.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger("mailticket")

M_MMAP_THRESHOLD = -3  # <malloc.h>
THRESHOLD = 1024 * 1024


def return_big_buffers() -> bool:
    """Set glibc's mmap threshold; False where there is no glibc (the defaults stay)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):  # no such library or function: nothing to tune
        log.debug("mallopt not available; big buffers follow glibc's defaults")
        return False
