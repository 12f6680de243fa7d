"""The few glibc calls the agent makes for memory and disk behaviour Python does not expose.

Each is an optimisation, not a need: where there is no glibc (or no such function) the call
does nothing and the agent still works, only with more memory or a longer fsync.
"""
from __future__ import annotations

import ctypes
import ctypes.util


def _load():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load()
M_ARENA_MAX = -8              # mallopt parameter number
SYNC_FILE_RANGE_WRITE = 2


def _call(name: str, *args) -> None:
    try:
        getattr(_LIBC, name)(*args)
    except (AttributeError, OSError):
        pass


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At agent start, before any thread: glibc gives every thread that allocates its own heap
    arena (up to 8 per core), and the upload, download and to_thread workers each keep one
    holding freed megabytes. Two arenas keep the agent's RSS within its 100 MB budget."""
    _call("mallopt", M_ARENA_MAX, arenas)


def release_memory() -> None:
    """Give the heap the worker threads freed (megabyte blocks, part buffers) back to the OS:
    the agent's RSS would otherwise creep up by a few MB with every snapshot or restore."""
    _call("malloc_trim", 0)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a file range to disk without waiting (sync_file_range), so a later fsync
    waits for the tail only, not for a whole gigabyte at once."""
    _call("sync_file_range", fd, ctypes.c_longlong(offset), ctypes.c_longlong(length), SYNC_FILE_RANGE_WRITE)
