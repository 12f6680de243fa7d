"""Garbage collections long enough to hold a daemon's event loop: fewer, and logged.

A coordinator holding a large fleet's records in memory spends a noticeable time in a full
collection, during which no heartbeat is answered. With CPython's default thresholds (a young
collection every 700 allocations) the records a busy coordinator decodes and replaces reach
the oldest generation before they die, and at 2,000 hosts full collections ran every half
second, 85 ms each (15% of its time). `fewer_collections()` lets young objects die by their
reference counts first; `watch()` logs the pauses that remain.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("gc")

LOGGED_FROM_S = 0.05   # a collection at least this long is logged
# (young, middle, old): a young collection every 50,000 allocations, not 700; the oldest after
# 20 middle ones, and still only once it grew by a quarter (CPython's own rule)
THRESHOLDS = (50_000, 20, 10)


def fewer_collections() -> None:
    gc.set_threshold(*THRESHOLDS)


def watch() -> Callable[[str, dict[str, Any]], None] | None:
    """Log every garbage collection that took LOGGED_FROM_S or longer (once per process); the
    callback installed (None when one was already)."""
    started: list[float] = []

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            seconds = time.perf_counter() - started[0]
            if seconds >= LOGGED_FROM_S:
                try:
                    log.warning("garbage collection paused the process", seconds=round(seconds, 3),
                                generation=info.get("generation"), collected=info.get("collected"))
                except (OSError, ValueError):   # the log's file closed as the process ends: nothing to say
                    pass

    if any(getattr(cb, "__qualname__", "").startswith("watch.") for cb in gc.callbacks):
        return None
    gc.callbacks.append(timed)
    return timed
