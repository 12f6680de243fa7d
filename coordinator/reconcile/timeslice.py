"""Cooperative time slices for work that never waits.

A settled cluster's turn in a reconcile cycle makes no call and reads nothing, so a cycle over
thousands of them would hold the event loop for its whole length, and every heartbeat answer
(the write leases) with it. Stepping aside after every turn costs the heartbeats instead: each
of their awaits then waits behind a round of turns. So turns step aside once a slice of time
is used up, and the loop looks at the network at least that often.
"""
from __future__ import annotations

import asyncio
import time

SLICE_S = 0.005


class TimeSlice:
    def __init__(self, seconds: float = SLICE_S) -> None:
        self.seconds = seconds
        self._since = time.monotonic()

    async def step_aside(self) -> None:
        """Let the event loop run other work when this slice is used up; a new slice begins."""
        if time.monotonic() - self._since >= self.seconds:
            await asyncio.sleep(0)
            self._since = time.monotonic()
