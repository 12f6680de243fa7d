"""Wall-clock time for the coordinator, shiftable for tests of maintenance windows.

`--clock-offset-file F` makes now() = real time + the seconds written in F (re-read when
the file changes), so a test can move the fleet into next Monday's window without
waiting for it. Without the flag it is time.time().
"""
from __future__ import annotations

import os
import time


class Clock:
    def __init__(self, offset_file: str | None = None):
        self._file = offset_file
        self._mtime: float | None = None
        self._offset = 0.0

    def __call__(self) -> float:
        if self._file:
            try:
                mtime = os.stat(self._file).st_mtime_ns
                if mtime != self._mtime:
                    with open(self._file) as f:
                        self._offset = float(f.read().strip() or 0)
                    self._mtime = mtime
            except (OSError, ValueError):
                pass   # keep the last offset: a half-written file must not jump the clock
        return time.time() + self._offset
