"""The per-minute metric store: one fixed-size ring of minutes per (cluster, node, metric) series.

Every sample lands in the minute (of the coordinator's clock) it arrived in, which
keeps SampleCount, Sum, Minimum and Maximum; statistics over any period that is a
multiple of 60 s are folded from those minutes, exactly as CloudWatch folds its
1-minute data.

Memory bound: a series holds at most `retention_minutes` minutes (14 days: 20 160),
each 40 bytes in typed arrays (minute, count, sum, min, max), so one series never
exceeds 40 B x retention minutes (806 KB for 14 days, reached only by a series fed
every minute for all that time); arrays grow as minutes arrive, then wrap. At most
`max_series` series are kept (default 50 000), and at most `max_series_per_host` of
them (default 5 000: 200 nodes of 25 metrics) fed last by any one host: a host past
its share loses its own least recently fed series, so a host that reports made-up
nodes never pushes out the others'; past the total, the series fed least recently of
all is dropped. Both orders are kept as insertion-ordered dicts (a series moves to the
end when fed), so a put and an eviction cost O(1) whatever the number of series. A
node's latest sample and counter totals go with its last series. Series that got
nothing for the whole retention period are dropped by `prune`. Data is in memory only:
a coordinator restart starts empty (alarms, which are configuration, are persisted
elsewhere).
"""
from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass
from typing import NamedTuple
from collections.abc import Callable, Iterator

from coordinator.metrics.names import COUNTERS

DEFAULT_RETENTION_S = 14 * 24 * 3600
DEFAULT_MAX_SERIES = 50_000
DEFAULT_MAX_SERIES_PER_HOST = 5_000
LATEST_KEPT_S = 3600.0      # a node silent this long has no latest sample any more


class SeriesKey(NamedTuple):
    cache_cluster_id: str
    cache_node_id: str
    metric_name: str


@dataclass
class Stats:
    """SampleCount, Sum, Minimum and Maximum of some samples; the Average follows."""

    sample_count: int = 0
    sum: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    @property
    def average(self) -> float:
        return self.sum / self.sample_count if self.sample_count else 0.0

    def add(self, other: Stats) -> None:
        self.sample_count += other.sample_count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def statistic(self, name: str) -> float:
        return {"Average": self.average, "Minimum": self.minimum, "Maximum": self.maximum,
                "Sum": self.sum, "SampleCount": float(self.sample_count)}[name]


class Series:
    """Minutes in time order in a ring: grows to `capacity`, then overwrites its oldest."""

    __slots__ = ("capacity", "start", "minutes", "counts", "sums", "mins", "maxs", "host")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.start = 0                       # physical index of the oldest minute once full
        self.minutes = array("q")
        self.counts = array("q")
        self.sums = array("d")
        self.mins = array("d")
        self.maxs = array("d")
        self.host = ""                       # the host that fed it last (whose share it counts in)

    def __len__(self) -> int:
        return len(self.minutes)

    def _phys(self, i: int) -> int:
        return (self.start + i) % len(self.minutes)

    def _find(self, minute: int) -> int:
        """Logical index of the first minute >= minute (binary search over the ring)."""
        lo, hi = 0, len(self.minutes)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.minutes[self._phys(mid)] < minute:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def add(self, minute: int, value: float) -> None:
        n = len(self.minutes)
        if n:
            last = self._phys(n - 1)
            if self.minutes[last] == minute:
                self._merge(last, value)
                return
            if minute < self.minutes[last]:        # late sample (the clock went back)
                i = self._find(minute)
                if i < n and self.minutes[self._phys(i)] == minute:
                    self._merge(self._phys(i), value)
                return                              # older than what we keep in order: dropped
        if n < self.capacity:
            self.minutes.append(minute)
            self.counts.append(1)
            self.sums.append(value)
            self.mins.append(value)
            self.maxs.append(value)
            return
        slot = self.start                            # full: the oldest minute makes room
        self.start = (self.start + 1) % n
        self.minutes[slot], self.counts[slot] = minute, 1
        self.sums[slot] = self.mins[slot] = self.maxs[slot] = value

    def _merge(self, slot: int, value: float) -> None:
        self.counts[slot] += 1
        self.sums[slot] += value
        if value < self.mins[slot]:
            self.mins[slot] = value
        if value > self.maxs[slot]:
            self.maxs[slot] = value

    def minutes_between(self, first: int, end: int) -> Iterator[tuple[int, Stats]]:
        """(minute, Stats) for every kept minute in [first, end)."""
        n = len(self.minutes)
        i = self._find(first)
        while i < n:
            p = self._phys(i)
            minute = self.minutes[p]
            if minute >= end:
                break
            yield minute, Stats(self.counts[p], self.sums[p], self.mins[p], self.maxs[p])
            i += 1

    @property
    def last_minute(self) -> int | None:
        return self.minutes[self._phys(len(self.minutes) - 1)] if self.minutes else None


class MetricStore:
    """Every series, and the latest sample of every node (for Prometheus and `top`)."""

    def __init__(self, clock: Callable[[], float] = time.time, retention_s: float = DEFAULT_RETENTION_S,
                 max_series: int = DEFAULT_MAX_SERIES, max_series_per_host: int = DEFAULT_MAX_SERIES_PER_HOST) -> None:
        if retention_s < 60:
            raise ValueError("metric retention must be at least 60 s")
        if max_series < 1 or max_series_per_host < 1:
            raise ValueError("the metric store must hold at least one series per host")
        self.clock = clock
        self.retention_s = retention_s
        self.capacity = int(retention_s // 60)
        self.max_series = max_series
        self.max_series_per_host = max_series_per_host
        # every series, least recently fed first (dicts keep insertion order; feeding moves to the end)
        self._series: dict[SeriesKey, Series] = {}
        # host -> its series, least recently fed first: its share of the store
        self._by_host: dict[str, dict[SeriesKey, None]] = {}
        # (cluster, node) -> how many series it has: its latest sample and totals go with the last
        self._node_series: dict[tuple[str, str], int] = {}
        # (cluster, metric) -> {node: series}: a query or an alarm reads only its own series
        self._index: dict[tuple[str, str], dict[str, Series]] = {}
        # (cluster, node) -> (host_id, received at (clock), {metric: value})
        self.latest: dict[tuple[str, str], tuple[str, float, dict[str, float]]] = {}
        # (cluster, node) -> (host_id, {counter: sum of its deltas since first seen on that host})
        self.totals: dict[tuple[str, str], tuple[str, dict[str, float]]] = {}

    def __len__(self) -> int:
        return len(self._series)

    def put(self, cluster_id: str, node_id: str, host_id: str, values: dict[str, float],
            at: float | None = None) -> None:
        """One sample of one node: every value goes into its series' minute of `at` (default now)."""
        at = self.clock() if at is None else at
        minute = int(at // 60)
        for name, value in values.items():
            if not math.isfinite(value):
                continue
            key = SeriesKey(cluster_id, node_id, name)
            series = self._series.pop(key, None)
            if series is None:
                series = self._new_series(key, host_id)
            else:
                self._feed_by(key, series, host_id)
            self._series[key] = series          # (again) the most recently fed
            series.add(minute, float(value))
        if (cluster_id, node_id) in self._node_series:  # a sample of nothing storable leaves no trace
            self.latest[(cluster_id, node_id)] = (host_id, at, dict(values))
            self._accumulate(cluster_id, node_id, host_id, values)

    def _accumulate(self, cluster_id: str, node_id: str, host_id: str, values: dict[str, float]) -> None:
        """Add the counters' deltas to running totals: Prometheus needs monotonic counters so
        rate() works at any scrape interval. Another host is another series: it starts at 0."""
        host, sums = self.totals.get((cluster_id, node_id), (host_id, {}))
        if host != host_id:
            sums = {}
        for name, value in values.items():
            if name in COUNTERS and math.isfinite(value) and value >= 0:
                sums[name] = sums.get(name, 0.0) + float(value)
        self.totals[(cluster_id, node_id)] = (host_id, sums)

    def _new_series(self, key: SeriesKey, host_id: str) -> Series:
        """A series for key, counted in host_id's share; room is made first (O(1))."""
        owned = self._by_host.get(host_id)
        if owned is not None and len(owned) >= self.max_series_per_host:
            self._drop(next(iter(owned)))                 # the host's own least recently fed
        if len(self._series) >= self.max_series:
            self._drop(next(iter(self._series)))          # the least recently fed of all
        series = Series(self.capacity)
        series.host = host_id
        self._by_host.setdefault(host_id, {})[key] = None
        self._index.setdefault((key.cache_cluster_id, key.metric_name), {})[key.cache_node_id] = series
        node = (key.cache_cluster_id, key.cache_node_id)
        self._node_series[node] = self._node_series.get(node, 0) + 1
        return series

    def _feed_by(self, key: SeriesKey, series: Series, host_id: str) -> None:
        """series is fed by host_id now: the most recent of that host's share (it moves there
        from its previous host's when the node moved)."""
        self._disown(key, series)
        series.host = host_id
        self._by_host.setdefault(host_id, {})[key] = None

    def _disown(self, key: SeriesKey, series: Series) -> None:
        owned = self._by_host.get(series.host)
        if owned is not None:
            owned.pop(key, None)
            if not owned:
                del self._by_host[series.host]

    def _drop(self, key: SeriesKey) -> None:
        series = self._series.pop(key)
        self._disown(key, series)
        nodes = self._index[(key.cache_cluster_id, key.metric_name)]
        del nodes[key.cache_node_id]
        if not nodes:
            del self._index[(key.cache_cluster_id, key.metric_name)]
        node = (key.cache_cluster_id, key.cache_node_id)
        left = self._node_series.pop(node) - 1
        if left:
            self._node_series[node] = left
        else:
            self.forget_node(*node)

    def series_of_host(self, host_id: str) -> int:
        """How many series count in host_id's share."""
        return len(self._by_host.get(host_id, ()))

    def forget_node(self, cluster_id: str, node_id: str) -> None:
        """The node is gone: no latest sample, no Prometheus series (its history stays until pruned)."""
        self.latest.pop((cluster_id, node_id), None)
        self.totals.pop((cluster_id, node_id), None)

    def prune(self) -> int:
        """Drop series with nothing inside the retention period; returns how many."""
        cutoff = int((self.clock() - self.retention_s) // 60)
        gone = [k for k, s in self._series.items() if (s.last_minute or 0) < cutoff]
        for key in gone:
            self._drop(key)
        now = self.clock()
        for node, (_, at, _) in list(self.latest.items()):
            if now - at > LATEST_KEPT_S:
                self.forget_node(*node)
        return len(gone)

    def keys(self) -> list[SeriesKey]:
        return sorted(self._series)

    def statistics(self, cluster_id: str, node_id: str, metric: str, period: int, start: float,
                   end: float) -> list[tuple[int, Stats]]:
        """(period start, Stats) for each period in [start, end) with data, in time order.

        node_id "" folds every node of the cluster together. Periods are aligned to
        multiples of `period` since the epoch, as CloudWatch aligns them; minutes older
        than the retention period are never returned.
        """
        if period <= 0 or period % 60:
            raise ValueError("period must be a positive multiple of 60")
        start = max(start, self.clock() - self.retention_s)
        first, end_minute = math.ceil(start / 60), math.ceil(end / 60)
        buckets: dict[int, Stats] = {}
        nodes = self._index.get((cluster_id, metric), {})
        for node, series in nodes.items():
            if node_id and node != node_id:
                continue
            for minute, stats in series.minutes_between(first, end_minute):
                at = (minute * 60) // period * period
                buckets.setdefault(at, Stats()).add(stats)
        return sorted(buckets.items())
