"""How often agents heartbeat, for the size of the fleet, and the lease and host timeout that go with it.

Every heartbeat is a TLS call the coordinator answers on its one event loop; at the base
interval (0.2 s) 2,000 hosts would send 10,000 a second, more than one process can answer,
and an answer that comes late is a write lease that lapses. So the coordinator keeps the
fleet's heartbeats under a budget a second: past `budget * interval` hosts the interval
grows with the fleet, and the lease and the host timeout grow by the same factor, so the
arithmetic checked at start (lease >= 3 intervals, lease + fence slack <= host timeout)
holds at every size. What a larger fleet pays is time: a host that goes quiet is declared
lost later (the old primary's lease runs longer before a replica may replace it). Failovers
on data-plane evidence (an engine that died, replicas that lost their primary) do not wait
on it: agents report such changes at once, not at the next interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

FENCE_SLACK = 0.2   # seconds an agent may need to apply a fence once its lease ran out
STEP = 0.25   # the factor moves in quarters: agents do not hear a new interval with every host that joins


@dataclass(frozen=True)
class Pace:
    interval: float        # seconds between an agent's heartbeats
    lease: float           # seconds its primaries stay writable after an answered heartbeat
    host_timeout: float    # seconds of silence after which its host is lost

    def scaled(self, factor: float) -> Pace:
        return Pace(self.interval * factor, self.lease * factor, self.host_timeout * factor)


@dataclass(frozen=True)
class FleetPace:
    base: Pace
    heartbeats_per_second: float = 0.0   # the budget; 0: the base pace at every size

    def factor(self, hosts: int) -> float:
        """1 while the fleet's heartbeats fit the budget; above, the stretch that makes them fit."""
        if self.heartbeats_per_second <= 0:
            return 1.0
        needed = hosts / (self.heartbeats_per_second * self.base.interval)
        return max(1.0, math.ceil(needed / STEP) * STEP)

    def for_hosts(self, hosts: int) -> Pace:
        return self.base.scaled(self.factor(hosts))
