"""Garbage collections long enough to hold a daemon's event loop, logged.

A coordinator holding a large fleet's records in memory can spend a noticeable time in a
full collection, during which no heartbeat is answered; this makes such pauses visible
in the log (and gives `scripts/bench-scale` a cause for a late answer) rather than leave
them to guesswork.
"""
from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.get_logger("gc")

LOGGED_FROM_S = 0.05   # a collection at least this long is logged


def watch() -> None:
    """Log every garbage collection that took LOGGED_FROM_S or longer (once per process)."""
    started: list[float] = []

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            seconds = time.perf_counter() - started[0]
            if seconds >= LOGGED_FROM_S:
                log.warning("garbage collection paused the process", seconds=round(seconds, 3),
                            generation=info.get("generation"), collected=info.get("collected"))

    if not any(getattr(cb, "__qualname__", "").startswith("watch.") for cb in gc.callbacks):
        gc.callbacks.append(timed)
