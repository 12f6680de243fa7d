"""Turns that never wait share time slices, with a rest for every turn between two slices."""
from __future__ import annotations

import asyncio
import time

from coordinator.reconcile.timeslice import TimeSlice


def test_turns_woken_by_the_end_of_a_rest_share_one_slice():
    async def main() -> tuple[int, float]:
        shared = TimeSlice(seconds=0.005, rest=0.002)
        started = time.monotonic()

        async def turns() -> None:
            for _ in range(25):
                until = time.monotonic() + 0.0002
                while time.monotonic() < until:
                    pass
                await shared.step_aside()
        await asyncio.gather(*(turns() for _ in range(16)))
        return shared.rests, time.monotonic() - started
    rests, took = asyncio.run(main())
    # 16 x 25 turns of 0.2 ms: 80 ms of work, about 16 slices of 5 ms, each followed by a rest
    assert 10 <= rests <= 24
    assert took < 0.08 + rests * 0.002 + 0.1
