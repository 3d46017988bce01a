"""Give the daemon's freed memory back to the system (glibc malloc), so RSS stays near its floor.

A Pi running edged has little RAM to spare (README: RSS under 40 MB). glibc gives every thread
that allocates its own malloc arena (up to 8 per core), and keeps what one-off work freed (the
hourly roll-up, the PV profile scan) instead of returning it: RSS then stays near the peak for
good. Both are tuned here through ctypes; on another C library (musl) or if the call fails, the
daemon runs as it did, only larger: never fatal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""mallopt parameter number of M_ARENA_MAX in glibc's malloc.h."""
ARENA_MAX = 2
"""Arenas for the whole process: the Writer, publisher and readers allocate little each, and
fewer arenas hold less freed memory (measured in bench/bench_memory.py)."""


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except (OSError, TypeError):
        return None
    # mallopt(M_ARENA_MAX) and malloc_trim are glibc's: absent from musl
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap malloc arenas; call before the daemon starts its threads. True if glibc took it."""
    if _LIBC is None:
        log.info("malloc arenas left as they are: not glibc")
        return False
    done = bool(_LIBC.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))
    if not done:
        log.warning("malloc arenas left as they are: mallopt(M_ARENA_MAX, %d) refused", arenas)
    return done


def trim() -> bool:
    """Return freed heap memory to the system after large one-off work. True if some was."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(ctypes.c_size_t(0)))
