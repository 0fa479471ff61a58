"""The C allocator's arenas: fewer of them, so freed memory is reused instead of fragmenting RSS.

glibc's malloc gives each thread that allocates concurrently an arena of its own, up to eight per
core, and memory freed in one arena serves only that arena. RocksDB's flush and compaction threads
allocate memtable and table blocks that are freed later, elsewhere: with the default arenas a node's
resident size crept up by about 0.4 KB a block (the Python heap and RocksDB's own caches flat), and
with one or two arenas it does not (issue 20; RocksDB's documentation recommends jemalloc or fewer
arenas for the same reason). Node-local and never consensus-relevant; a no-op on other C libraries.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("abci_app.node")

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (call before the store's threads start); True if set.

    ``MALLOC_ARENA_MAX`` in the environment, when set, is left to decide."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, arenas))
    if not done:
        log.warning("could not limit malloc arenas to %d; resident memory may creep up", arenas)
    return done
