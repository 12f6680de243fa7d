"""The unit tier runs in-process: a test here that starts a process fails at once (its place is tests/e2e)."""
from __future__ import annotations

import subprocess

import pytest


class _NoProcess(subprocess.Popen):   # type: ignore[type-arg]
    def __init__(self, args, *rest, **kwargs):   # noqa: ANN001 - Popen's own signature
        raise AssertionError(f"tests/unit starts no process (asked to run {args!r}); move this test to tests/e2e")


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _NoProcess)
