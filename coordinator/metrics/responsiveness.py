"""How quickly the coordinator answers, as Prometheus histograms on its `/metrics`.

Two figures guard the write leases: how long a heartbeat takes from the servicer's entry to its
answer (`cachefleet_heartbeat_answer_seconds`), and how late the event loop runs what is ready
to run (`cachefleet_event_loop_lag_seconds`, sampled every LAG_SAMPLE_S by a task that asks to
wake up and measures how much later it did). A call that arrives while the loop is held waits
about that lag before its handler starts, so the two together are what a caller waits on the
coordinator's side, whatever the network and the caller's own machine add.
"""
from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

LAG_SAMPLE_S = 0.02
# fine below 100 ms, where the targets are; coarse above, where only "too slow" matters
BUCKETS_S = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075,
             0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)


class Responsiveness:
    """The histograms (not registered anywhere: the metrics endpoint adds them to its registry)."""

    def __init__(self) -> None:
        self.heartbeat_answer = Histogram(
            "cachefleet_heartbeat_answer_seconds", "Seconds from a heartbeat's arrival at the servicer to its "
            "answer (the answer carries the host's write lease)", buckets=BUCKETS_S, registry=None)
        self.loop_lag = Histogram(
            "cachefleet_event_loop_lag_seconds", "Seconds the coordinator's event loop ran a ready task late "
            "(what any call arriving then waits before its handler starts)", buckets=BUCKETS_S, registry=None)

    def collectors(self) -> list[Histogram]:
        return [self.heartbeat_answer, self.loop_lag]

    def answered(self, started: float) -> None:
        """A heartbeat that entered the servicer at time.perf_counter() == started was answered."""
        self.heartbeat_answer.observe(time.perf_counter() - started)

    async def sample_loop_lag(self, every: float = LAG_SAMPLE_S) -> None:
        """Forever: sleep `every` and record how much later than asked the loop woke this task."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + every
            await asyncio.sleep(every)
            self.loop_lag.observe(max(loop.time() - asked, 0.0))
