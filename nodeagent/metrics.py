"""Per-node metrics under CloudWatch's ElastiCache names, sampled and pushed to the coordinator.

Every `interval` seconds (default 5; at most 10 as the issue asks) each running node
is sampled from three sources:

- the engine's own counters: memcached `stats`, redis `INFO clients|memory|stats|
  replication|keyspace` (one section a command, 6.0 and 7.0 alike), both on the one
  connection the health probe keeps open (nodeagent/health.py), so neither probing nor
  sampling adds NewConnections;
- the process (the pid supervisord reports for the engine): its user+system CPU time through
  psutil (CPUUtilization), and its VmSwap from /proc/<pid>/status (SwapUsage);
- the host, through psutil: its available memory (MemAvailable: FreeableMemory).

Counters (bytes in/out, connections received, hits, misses, evictions, ...) are sent as
the change since the previous sample of the same process, as CloudWatch shows them per
period; the first sample of a process, or one after its counters went back (a restart),
sends gauges only, unless the process started after this agent did (their start times):
then no agent can have reported it before, and its counters since its start are the first
deltas, so that what a new node served before its first sample is not lost. Samples go to the coordinator's HostMetrics.ReportMetrics, apart
from heartbeats, which stay small because failover depends on them.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from collections.abc import Mapping

import psutil
import structlog
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from nodeagent.coordinators import Coordinators
from nodeagent.engines.base import ClientSession
from nodeagent.engines.redis import parse_info
from nodeagent.enums import NodeStatus

from cachefleet.common.metric_names import (MEMCACHED_COUNTERS, MEMCACHED_GAUGES, REDIS_COUNTERS,
                                             REDIS_GAUGES)

log = structlog.get_logger("nodeagent.metrics")

DEFAULT_INTERVAL_S = 5.0
MAX_INTERVAL_S = 10.0
SAMPLE_TIMEOUT_S = 1.0

REDIS_SECTIONS = ("server", "clients", "memory", "stats", "replication", "keyspace")
HIT_RATE_OF = {"memcached": ("GetHits", "GetMisses"), "redis": ("CacheHits", "CacheMisses")}


# --- the process and the host (psutil) ---

def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of the process (not its children's), in seconds (None when it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def started_after(pid: int, other: psutil.Process) -> bool:
    """Whether pid started after other did (False when either is gone).

    Both start times are read here, one after the other, so that a step of the wall clock
    between two readings cannot reorder them.
    """
    try:
        return psutil.Process(pid).create_time() > other.create_time()
    except psutil.Error:
        return False


def swap_bytes(pid: int) -> float | None:
    """How much of the process is swapped out (its VmSwap), in bytes; None when it is gone.

    Read from /proc/<pid>/status, not psutil's memory_full_info(): that walks every page of
    the engine (smaps_rollup), 17 ms for a 1 GB process against 0.03 ms here, on the agent's
    loop every sample."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmSwap:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return None


def mem_available_bytes() -> float | None:
    """The host's memory available to new allocations without swapping (MemAvailable)."""
    try:
        return float(psutil.virtual_memory().available)
    except (OSError, RuntimeError, ValueError):
        return None


# --- engine readings ---

def parse_memcached_stats(lines: list[str]) -> dict[str, str]:
    """`STAT name value` lines -> {name: value}."""
    stats = {}
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            stats[parts[1]] = parts[2]
    return stats


def redis_keys(fields: Mapping[str, str]) -> int:
    """Keys over every database of INFO keyspace (`db0:keys=3,expires=0,avg_ttl=0`)."""
    total = 0
    for name, value in fields.items():
        if name.startswith("db") and name[2:].isdigit():
            for part in value.split(","):
                key, _, number = part.partition("=")
                if key == "keys" and number.isdigit():
                    total += int(number)
    return total


def _number(fields: Mapping[str, str], name: str) -> float | None:
    try:
        return float(fields[name])
    except (KeyError, ValueError):
        return None


@dataclass
class Reading:
    """One look at a node: its counters (cumulative) and gauges, with when and which process."""

    at: float                                   # monotonic seconds
    pid: int
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    cpu_s: float | None = None
    identity: str = ""                          # redis run_id: a new one means a new process


def memcached_reading(stats: Mapping[str, str], at: float, pid: int) -> Reading:
    reading = Reading(at, pid, identity=stats.get("pid", ""))
    for name, stat in MEMCACHED_COUNTERS.items():
        if (value := _number(stats, stat)) is not None:
            reading.counters[name] = value
    for name, stat in MEMCACHED_GAUGES.items():
        if (value := _number(stats, stat)) is not None:
            reading.gauges[name] = value
    return reading


def redis_reading(fields: Mapping[str, str], at: float, pid: int) -> Reading:
    reading = Reading(at, pid, identity=fields.get("run_id", ""))
    for name, stat in REDIS_COUNTERS.items():
        if (value := _number(fields, stat)) is not None:
            reading.counters[name] = value
    for name, stat in REDIS_GAUGES.items():
        if (value := _number(fields, stat)) is not None:
            reading.gauges[name] = value
    reading.gauges["CurrItems"] = redis_keys(fields)
    master = fields.get("role") == "master"
    reading.gauges["IsMaster"] = 1.0 if master else 0.0
    if master:
        if (offset := _number(fields, "master_repl_offset")) is not None:
            reading.counters["ReplicationBytes"] = offset
    elif fields.get("master_link_status") == "up":
        reading.gauges["ReplicationLag"] = _lag_with_link_up(fields)
    else:
        down = _number(fields, "master_link_down_since_seconds")
        if down is not None and down >= 0:
            reading.gauges["ReplicationLag"] = down
    return reading


def _lag_with_link_up(fields: Mapping[str, str]) -> float:
    """0 for a replica that has applied all it read from its primary: on an idle link redis
    pings only every repl-ping-replica-period (10 s), so master_last_io_seconds_ago climbs to
    10 on a replica that is fully caught up. Behind (slave_repl_offset short of
    slave_read_repl_offset), the seconds since it last heard from the primary. Redis 6 has no
    slave_read_repl_offset: with the link up it applies what it reads at once, so 0."""
    read, applied = _number(fields, "slave_read_repl_offset"), _number(fields, "slave_repl_offset")
    if read is None or applied is None or applied >= read:
        return 0.0
    return max(0.0, _number(fields, "master_last_io_seconds_ago") or 0.0)


def derive(engine: str, reading: Reading, previous: Reading | None, from_zero: bool = False) -> dict[str, float]:
    """The values to report: gauges, and counter deltas against the previous reading of the
    same process, plus the hit rate. A first reading (or one after a restart) has no deltas,
    unless from_zero (no one reported this process before): then its counters are its deltas."""
    values = dict(reading.gauges)
    same_process = (previous is not None and previous.pid == reading.pid
                    and previous.identity == reading.identity and reading.at > previous.at)
    if not same_process:
        if not from_zero:
            return values
        previous = Reading(reading.at, reading.pid, counters={k: 0.0 for k in reading.counters})
    assert previous is not None
    for name, value in reading.counters.items():
        before = previous.counters.get(name)
        if before is not None and value >= before:
            values[name] = value - before
    if reading.cpu_s is not None and previous.cpu_s is not None and reading.cpu_s >= previous.cpu_s:
        values["CPUUtilization"] = round(100.0 * (reading.cpu_s - previous.cpu_s) / (reading.at - previous.at), 3)
    hits, misses = HIT_RATE_OF.get(engine, ("", ""))
    if hits in values and misses in values and values[hits] + values[misses] > 0:
        values["CacheHitRate"] = round(100.0 * values[hits] / (values[hits] + values[misses]), 3)
    return values


class MetricsSampler:
    """Samples every running node of the agent each interval and reports to the coordinator."""

    def __init__(self, monitor, host_id: str, coordinators: Coordinators,
                 interval: float = DEFAULT_INTERVAL_S) -> None:
        if not 0 < interval <= MAX_INTERVAL_S:
            raise ValueError(f"metrics interval must be in (0, {MAX_INTERVAL_S}] seconds")
        self._monitor = monitor
        self.host_id = host_id
        self.coordinators = coordinators   # shared with the heartbeats: the one that answers
        self.interval = interval
        self._previous: dict[str, Reading] = {}
        self._failing = False
        self._me = psutil.Process()

    async def sample(self) -> list[node_agent_pb2.NodeMetricSample]:
        """One sample of every available node (a node that cannot be read is skipped this time)."""
        states = [s for s in self._monitor.states() if s.status == NodeStatus.AVAILABLE.proto and s.pid]
        keys = {s.node_key for s in states}
        for key in list(self._previous):
            if key not in keys:
                del self._previous[key]
        results = await asyncio.gather(*(self._sample_node(s) for s in states), return_exceptions=True)
        return [r for r in results if isinstance(r, node_agent_pb2.NodeMetricSample)]

    async def _sample_node(self, state: node_agent_pb2.NodeState) -> node_agent_pb2.NodeMetricSample:
        spec = state.spec
        at = time.monotonic()
        view = self._monitor.view(state.node_key)
        if view is None or not isinstance(view.session, ClientSession):
            raise LookupError(state.node_key)
        if spec.engine == "memcached":
            [lines] = await view.session.command([("stats",)], SAMPLE_TIMEOUT_S)
            reading = memcached_reading(parse_memcached_stats(lines), at, state.pid)
        else:
            replies = await view.session.command([("INFO", s) for s in REDIS_SECTIONS], SAMPLE_TIMEOUT_S)
            reading = redis_reading(parse_info("\n".join(r for r in replies if isinstance(r, str))),
                                    at, state.pid)
        reading.cpu_s = cpu_seconds(state.pid)
        previous = self._previous.get(state.node_key)
        self._previous[state.node_key] = reading
        values = derive(spec.engine, reading, previous, from_zero=self._started_after_us(state.pid))
        if (swap := swap_bytes(state.pid)) is not None:
            values["SwapUsage"] = swap
        if (free := mem_available_bytes()) is not None:
            values["FreeableMemory"] = free
        return node_agent_pb2.NodeMetricSample(
            node_key=state.node_key, cache_cluster_id=spec.cache_cluster_id, cache_node_id=spec.cache_node_id,
            sampled_unix_ms=int(time.time() * 1000),
            interval_s=round(at - previous.at, 3) if previous else 0.0, values=values)

    def _started_after_us(self, pid: int) -> bool:
        """The process started after this agent: no agent has reported its counters yet."""
        return started_after(pid, self._me)

    async def run(self) -> None:
        """Sample and report every interval (start to start) until cancelled."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                samples = await self.sample()
                if samples:
                    _, channel = self.coordinators.channel()
                    await node_agent_pb2_grpc.HostMetricsStub(channel).ReportMetrics(
                        node_agent_pb2.ReportMetricsRequest(host_id=self.host_id, samples=samples), timeout=2.0)
                if self._failing:
                    log.info("metrics reach the coordinator again")
                    self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - metrics never stop the agent
                if not self._failing:
                    log.warning("cannot report metrics; retrying", error=f"{type(error).__name__}: {error}")
                self._failing = True
            next_at = max(next_at + self.interval, loop.time())
            await asyncio.sleep(next_at - loop.time())
