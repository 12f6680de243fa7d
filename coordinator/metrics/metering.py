"""Usage metering: node-hours per cluster and node type, partial hours billed as full hours.

The FAQ bills "from the time you launch a Cache Node until you terminate it", and "partial
Cache Node hours consumed are billed as full hours". We keep every node's lifetime in the
store (`usage/<cluster>/<cluster created ms>/<node>/<start ms>`: node type, engine, start,
end or none while it runs) and count, per node and node type, the UTC clock hours in which
it ran for any time: a node added at 12:40 counts the 12:00 hour whole.

A node counts from its creation (the API's CreateTime) while it is placed on a host and not
being deleted; it stops when it is deleted or removed (first observed), and a node type change
(scaling) closes its lifetime and opens one of the new type. Replacing a node on another host
(recovery) keeps its lifetime: it is the same node to its users. The meter observes the
clusters at the end of every reconciler cycle (the cycle that placed or removed a node) and
before it answers a query, on the coordinator's Clock, so tests move time by moving the clock; a coordinator down for a while closes, on start, the lifetimes of nodes deleted
meanwhile at that moment (it over-counts rather than loses hours).

A query range is widened to whole hours (start rounded down, end rounded up) so that
hour-aligned ranges add up exactly; the lifetimes of a cluster id deleted and created again
are counted apart.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass
from collections.abc import Callable

import structlog

from coordinator.state.repos import ClusterRepo
from coordinator.domain.model import Cluster, NodeStatus
from coordinator.state.store import Store
from coordinator.state.store.base import StoreError

log = structlog.get_logger("metering")

PREFIX = "usage/"
WRITES_AT_ONCE = 100   # lifetimes written in one transaction (etcd takes 128 operations in one)
HOUR = 3600


@dataclass
class Lifetime:
    cluster_id: str
    cluster_created: int          # ms: tells apart two clusters of the same id
    node_id: str
    node_type: str
    engine: str
    replication_group_id: str
    start: float
    end: float | None = None      # None: still running

    @property
    def ident(self) -> tuple[str, int, str]:
        return self.cluster_id, self.cluster_created, self.node_id

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.cluster_id}/{self.cluster_created:015d}/{self.node_id}/{int(self.start * 1000):015d}"


@dataclass(frozen=True)
class UsageRow:
    cluster_id: str
    node_type: str
    engine: str
    replication_group_id: str
    node_hours: int


def hour_range(start: float, end: float) -> tuple[int, int]:
    """[first, last) hour indexes of a range widened to whole hours."""
    first = math.floor(start / HOUR)
    return first, max(first, math.ceil(end / HOUR))


def hours_of(life: Lifetime, now: float, first: int, last: int) -> range:
    """The clock hours (indexes) within [first, last) in which the node ran."""
    end = life.end if life.end is not None else now
    if end < life.start:             # the clock was moved back past its start
        return range(0)
    begin = math.floor(life.start / HOUR)
    stop = max(begin + 1, math.ceil(end / HOUR))   # a zero-length life still touched its hour
    return range(max(first, begin), min(last, stop))


def usage(lifetimes: list[Lifetime], start: float, end: float, now: float) -> list[UsageRow]:
    """Node-hours per (cluster, node type, engine), each node counted once per clock hour."""
    first, last = hour_range(start, end)
    per_node: dict[tuple, set[int]] = {}
    meta: dict[tuple, tuple[str, str]] = {}
    for life in lifetimes:
        hours = hours_of(life, now, first, last)
        if not hours:
            continue
        node = (life.cluster_id, life.node_type, life.engine, life.cluster_created, life.node_id)
        per_node.setdefault(node, set()).update(hours)
        meta[node] = (life.replication_group_id, life.engine)
    rows: dict[tuple[str, str, str], list] = {}
    for (cluster_id, node_type, engine, _created, _node), counted in per_node.items():
        row = rows.setdefault((cluster_id, node_type, engine), ["", 0])
        row[0] = row[0] or meta[(cluster_id, node_type, engine, _created, _node)][0]
        row[1] += len(counted)
    return [UsageRow(c, t, e, g, n) for (c, t, e), (g, n) in sorted(rows.items())]


class Meter:
    def __init__(self, store: Store, repo: ClusterRepo, clock: Callable[[], float]):
        self._store = store
        self._repo = repo
        self._clock = clock
        self._open: dict[tuple[str, int, str], Lifetime] = {}
        self._seen: set[tuple[str, int, str]] = set()
        self._loaded = False
        self._lock = asyncio.Lock()    # the reconciler and DescribeUsage both observe

    async def load(self) -> None:
        self._open.clear()
        self._seen.clear()
        for life in await self.lifetimes():
            self._seen.add(life.ident)
            if life.end is None:
                self._open[life.ident] = life
        self._loaded = True

    async def lifetimes(self, cluster_id: str = "") -> list[Lifetime]:
        prefix = f"{PREFIX}{cluster_id}/" if cluster_id else PREFIX
        return [Lifetime(**rec.value) for rec in await self._store.list(prefix)]

    async def observe(self, clusters: list[Cluster] | None = None) -> list[str]:
        """Open a lifetime for every running node without one, close those of nodes gone.

        Returns what it did (for logs and tests)."""
        async with self._lock:
            return await self._observe(clusters)

    async def _observe(self, clusters: list[Cluster] | None) -> list[str]:
        if not self._loaded:
            await self.load()
        now = self._clock()
        if clusters is None:
            clusters = await self._repo.shared()   # read-only
        running: dict[tuple[str, int, str], tuple[Cluster, str, float]] = {}
        for cluster in clusters:
            for node in cluster.nodes.values():
                if node.status != NodeStatus.DELETING and node.host_id:
                    ident = (cluster.cluster_id, int(cluster.created * 1000), node.node_id)
                    running[ident] = (cluster, node.node_id, node.created)
        actions = []
        ended, begun = [], []
        for ident, life in list(self._open.items()):
            current = running.get(ident)
            if current is None or current[0].node_type != life.node_type:
                life.end = max(now, life.start)
                ended.append((ident, life))
        ending = {ident for ident, _ in ended}
        for ident, (cluster, node_id, created) in running.items():
            if ident in self._open and ident not in ending:
                continue
            # first sight of the node: it counts from its creation; a new type counts from now
            start = created if ident not in self._seen and 0 < created <= now else now
            begun.append((ident, Lifetime(cluster.cluster_id, ident[1], node_id, cluster.node_type, cluster.engine,
                                          cluster.replication_group_id, start)))
        changed = ended + begun
        for first in range(0, len(changed), WRITES_AT_ONCE):   # a thousand new nodes: ten writes, not a thousand
            chunk = changed[first:first + WRITES_AT_ONCE]
            if not await self._store.transact([(life.key, asdict(life), None) for _, life in chunk]):
                raise StoreError("metering lifetimes not written")
            for ident, life in chunk:
                if life.end is not None:
                    del self._open[ident]
                    actions.append(f"stopped {life.cluster_id}/{life.node_id} ({life.node_type})")
                else:
                    self._open[ident] = life
                    self._seen.add(ident)
                    actions.append(f"started {life.cluster_id}/{life.node_id} ({life.node_type})")
        if actions:
            log.info("metered", actions="; ".join(actions))
        return actions

    async def usage(self, start: float, end: float, cluster_id: str = "") -> list[UsageRow]:
        """Observe first, so the answer reflects every change made before the call."""
        await self.observe()
        return usage(await self.lifetimes(cluster_id), start, end, self._clock())

    async def observe_safely(self, clusters: list[Cluster] | None = None) -> None:
        """The reconciler's hook: metering trouble is logged, never fails a cycle (the next one retries).

        It reads the clusters afresh under the lock rather than use the cycle's list: a
        DescribeUsage may have seen a cluster created after that list was read, and an old
        list would close its lifetimes again."""
        try:
            await self.observe()
        except Exception:  # noqa: BLE001
            log.exception("metering pass failed")
