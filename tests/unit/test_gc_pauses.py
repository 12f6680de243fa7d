"""Long garbage collections are logged, and the logging never fails the process."""
from __future__ import annotations

import gc
import io
import sys

import pytest
import structlog

from cachefleet.common import gc_pauses


@pytest.fixture
def captured(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(gc_pauses, "log", structlog.wrap_logger(structlog.PrintLogger(out),
                                                                processors=[structlog.processors.JSONRenderer()]))
    monkeypatch.setattr(gc_pauses, "LOGGED_FROM_S", 0.0)
    for callback in [cb for cb in gc.callbacks if getattr(cb, "__qualname__", "").startswith("watch.")]:
        gc.callbacks.remove(callback)     # a daemon's main() run in this process installed one
    callback = gc_pauses.watch()
    yield out
    if callback is not None:
        gc.callbacks.remove(callback)


def test_a_collection_past_the_threshold_is_logged_with_its_generation(captured):
    gc.collect()
    assert '"event": "garbage collection paused the process"' in captured.getvalue()
    assert '"generation": 2' in captured.getvalue()


def test_a_collection_after_the_log_closed_raises_nothing(captured, monkeypatch):
    raised = []
    monkeypatch.setattr(sys, "unraisablehook", raised.append)   # what a gc callback's exception becomes
    captured.close()
    gc.collect()     # the callback's print meets a closed file (a process ending): nothing is raised
    assert raised == []


def test_young_collections_come_every_fifty_thousand_allocations():
    before = gc.get_threshold()
    try:
        gc_pauses.fewer_collections()
        assert gc.get_threshold() == gc_pauses.THRESHOLDS and gc_pauses.THRESHOLDS[0] == 50_000
    finally:
        gc.set_threshold(*before)
