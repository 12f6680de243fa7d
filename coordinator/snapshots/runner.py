"""The snapshot loop: takes, copies, schedules, prunes and deletes snapshots.

Level-triggered like the reconciler: every cycle looks at the records and starts what
each one needs (a `creating` snapshot is taken or copied, a `deleting` one has its objects
removed and then its record), so a coordinator restarted at any instant finishes the work.
Long work (an agent streaming gigabytes) runs in tasks beside the loop; `snapshotting`
holds the clusters a snapshot is being taken from, which DescribeCacheClusters shows.
"""
from __future__ import annotations

import asyncio
from typing import NamedTuple
from collections.abc import Callable, Sequence

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.reconcile.agents import AgentClients
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.state.events import EventLog
from cachefleet.common.failpoints import failpoint
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, NodeStatus, ReplicationGroup
from coordinator.state.registry import HostRegistry
from coordinator.snapshots import windows
from coordinator.snapshots.model import snapshot_of
from coordinator.snapshots.retention import PRUNABLE, decide_pruning
from coordinator.snapshots.model import NodeSnapshot, Snapshot, SnapshotRepo, SnapshotStatus
from coordinator.snapshots.storage import ObjectStoreError, SnapshotStorage

log = structlog.get_logger("snapshots")

SNAPSHOT_TIMEOUT = 6 * 3600.0     # one TakeSnapshot call: BGSAVE and upload of the whole dataset
BUSY_RETRY_SECONDS = 1.0


def object_key(snapshot_name: str, cluster_id: str, node_id: str) -> str:
    return f"{snapshot_name}/{cluster_id}-{node_id}.rdb"


class SnapshotRunner:
    def __init__(self, snapshots: SnapshotRepo, clusters: ClusterRepo, groups: GroupRepo,
                 registry: HostRegistry, agents: AgentClients, events: EventLog, storage: SnapshotStorage,
                 clock: Callable[[], float], interval: float = 1.0):
        self.snapshots = snapshots
        self.clusters = clusters
        self.groups = groups
        self.registry = registry
        self.agents = agents
        self.events = events
        self.storage = storage
        self.clock = clock
        self.interval = interval
        self.snapshotting: set[str] = set()     # cluster ids a snapshot is being taken from now
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()
        # (store writes when read, clusters by id, groups): what the last cycle read
        self._fleet_read: tuple[int, dict[str, Cluster], list[ReplicationGroup]] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sentence = await self.run_cycle()
                if sentence:
                    log.info("snapshot cycle", actions=sentence)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                log.exception("snapshot cycle failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _fleet(self) -> tuple[dict[str, Cluster], list[ReplicationGroup]]:
        """Clusters and groups, read again only after a write to the store has ended since the
        last read (every second over a large fleet, what nothing changed is not decoded again)."""
        store = self.clusters.store
        if self._fleet_read is None or self._fleet_read[0] != store.writes:
            writes = store.writes
            clusters = {c.cluster_id: c for c in await self.clusters.shared()}   # read-only
            self._fleet_read = (writes, clusters, await self.groups.shared())
        return self._fleet_read[1], self._fleet_read[2]

    async def run_cycle(self) -> str:
        """One pass; returns what it started, as a sentence ('' when nothing)."""
        clusters, groups = await self._fleet()
        sources = automatic_sources(clusters, groups)
        writes = self.clusters.store.writes
        existing = await self.snapshots.all()
        actions = await self._schedule_automated(sources, clusters, existing)
        actions += await self._prune(sources, existing)
        if self.clusters.store.writes != writes:     # again: with what the two above (or others) wrote
            existing = await self.snapshots.all()
        for snapshot in existing:
            if snapshot.name in self._tasks:
                continue
            if snapshot.status == SnapshotStatus.CREATING:
                work = self._copy(snapshot) if snapshot.copy_of else self._take(snapshot)
            elif snapshot.status == SnapshotStatus.DELETING:
                work = self._delete(snapshot)
            elif snapshot.status == SnapshotStatus.FAILED and snapshot.leftovers:
                work = self._clean(snapshot)
            else:
                continue
            self._start(snapshot.name, work)
            actions.append(f"{'copying' if snapshot.copy_of else snapshot.status.value} {snapshot.name}")
        return "; ".join(actions)

    def _start(self, name: str, work) -> None:
        task = asyncio.create_task(work, name=f"snapshot {name}")
        self._tasks[name] = task

        def done(_: asyncio.Task) -> None:
            self._tasks.pop(name, None)
            self.wake()
        task.add_done_callback(done)

    # -- taking one ---------------------------------------------------------------------------

    async def _take(self, snapshot: Snapshot) -> None:
        cluster = await self.clusters.get(snapshot.cluster_id)
        nodes = [n for n in cluster.nodes.values() if n.status != NodeStatus.DELETING] if cluster else []
        if cluster is None or not nodes:
            await self._fail(snapshot, f"cache cluster {snapshot.cluster_id} has no node to snapshot")
            return
        node = nodes[0]
        host = self.registry.hosts.get(node.host_id or "")
        if host is None or not self.registry.is_live(node.host_id):
            await self._fail(snapshot, f"the host of cache node {cluster.node_key(node.node_id)} is not reachable")
            return
        key = object_key(snapshot.name, cluster.cluster_id, node.node_id)
        request = agent_pb.TakeSnapshotRequest(
            node_key=cluster.node_key(node.node_id), store=self.storage.name, key=key,
            metadata={"snapshot_name": snapshot.name, "snapshot_source": snapshot.source,
                      "cache_cluster_id": cluster.cluster_id, "cache_node_id": node.node_id,
                      "replication_group_id": snapshot.group_id, "cache_node_type": cluster.node_type,
                      "cache_parameter_group": cluster.parameter_group or ""},
            encrypted=snapshot.encrypted)
        await self._remember(snapshot.name, [key])
        self.snapshotting.add(cluster.cluster_id)
        try:
            result = await self.agents.take_snapshot(host.info.agent_endpoint, request, SNAPSHOT_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or exc.code().name
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "already in progress" in details:
                await asyncio.sleep(BUSY_RETRY_SECONDS)   # our own earlier call, from before a restart
                return
            await self._fail(snapshot, details, [key])
            return
        finally:
            self.snapshotting.discard(cluster.cluster_id)
        failpoint("snapshot.after_upload")
        taken = self.clock()

        def finish(s: Snapshot) -> bool:
            if s.status != SnapshotStatus.CREATING:
                return False
            s.status = SnapshotStatus.AVAILABLE
            s.engine_version = result.engine_version or s.engine_version
            s.nodes = [NodeSnapshot(cluster.cluster_id, node.node_id, key, result.size, result.sha256,
                                    node.created, taken)]
            s.leftovers = []
            return True
        await self.snapshots.mutate(snapshot.name, finish)
        await self._event(snapshot, f"Snapshot succeeded for snapshot with ID '{snapshot.name}' of cache cluster "
                                    f"with ID '{cluster.cluster_id}' ({result.size} bytes)")

    async def _fail(self, snapshot: Snapshot, reason: str, keys: Sequence[str] = ()) -> None:
        """Record the failure at once, keeping the keys of any object the attempt may have left:
        the cycles remove them (_clean) while the snapshot already says failed, so a store that
        is down (every call retried with back-off) does not hold the failure back."""
        def fail(s: Snapshot) -> bool:
            if s.status != SnapshotStatus.CREATING:
                return False
            s.status, s.reason = SnapshotStatus.FAILED, reason[:1000]
            s.leftovers = sorted(set(s.leftovers) | set(keys))
            return True
        await self.snapshots.mutate(snapshot.name, fail)
        await self._event(snapshot, f"Snapshot failed for snapshot with ID '{snapshot.name}' of cache cluster "
                                    f"with ID '{snapshot.cluster_id}': {reason[:500]}")

    async def _remember(self, name: str, keys: list[str]) -> None:
        """Write down the keys before anything writes them, so no crash or failure can leave an
        object no record names."""
        def note(s: Snapshot) -> bool:
            if set(keys) <= set(s.leftovers):
                return False
            s.leftovers = sorted(set(s.leftovers) | set(keys))
            return True
        await self.snapshots.mutate(name, note)

    async def _remove(self, keys: Sequence[str]) -> list[str]:
        """Delete the objects; returns the keys that could not be deleted now."""
        left = []
        for key in keys:
            try:
                await self.storage.delete(key)
            except ObjectStoreError as exc:
                log.warning("cannot remove a snapshot object; will retry", key=key, error=str(exc))
                left.append(key)
        return left

    async def _clean(self, snapshot: Snapshot) -> None:
        """A failed snapshot's leftovers, tried again every cycle until they are gone."""
        left = await self._remove(snapshot.leftovers)

        def done(s: Snapshot) -> bool:
            if s.status != SnapshotStatus.FAILED or s.leftovers == left:
                return False
            s.leftovers = left
            return True
        await self.snapshots.mutate(snapshot.name, done)
        if left:
            await asyncio.sleep(self.interval)
        else:
            log.info("failed snapshot's objects removed", snapshot=snapshot.name)

    async def _event(self, snapshot: Snapshot, message: str) -> None:
        """An event of the cluster, and of its group; a group's webhook gets it once, as the group's."""
        await self.events.record("cache-cluster", snapshot.cluster_id, message, notify=not snapshot.group_id)
        if snapshot.group_id:
            await self.events.record("replication-group", snapshot.group_id, message)

    # -- copying one --------------------------------------------------------------------------

    async def _copy(self, snapshot: Snapshot) -> None:
        source = await self.snapshots.get(snapshot.copy_of)
        if source is None or source.status != SnapshotStatus.AVAILABLE:
            await self._fail(snapshot, f"source snapshot {snapshot.copy_of} is not available")
            return
        copied: list[NodeSnapshot] = []
        keys = [object_key(snapshot.name, n.cluster_id, n.node_id) for n in source.nodes]
        await self._remember(snapshot.name, keys)
        try:
            for node in source.nodes:
                key = object_key(snapshot.name, node.cluster_id, node.node_id)
                info = await self.storage.copy(node.key, key, {"snapshot_name": snapshot.name,
                                                               "snapshot_source": "manual",
                                                               "copy_of": source.name},
                                                  encrypted=snapshot.encrypted)
                if info.sha256 != node.sha256:
                    raise ObjectStoreError(f"the copy of {node.key} has sha256 {info.sha256}, "
                                           f"the source {node.sha256}")
                copied.append(NodeSnapshot(node.cluster_id, node.node_id, key, info.size, info.sha256,
                                           node.node_created, node.taken))
        except ObjectStoreError as exc:
            await self._fail(snapshot, f"copy failed: {exc}", keys)
            return

        def finish(s: Snapshot) -> bool:
            if s.status != SnapshotStatus.CREATING:
                return False
            s.status, s.nodes, s.leftovers = SnapshotStatus.AVAILABLE, copied, []
            return True
        await self.snapshots.mutate(snapshot.name, finish)
        await self._event(snapshot, f"Snapshot {source.name} copied to {snapshot.name}")

    # -- deleting one -------------------------------------------------------------------------

    async def _delete(self, snapshot: Snapshot) -> None:
        """Objects first, record last: a crash in between leaves a `deleting` record that the
        next cycle finishes, never an object nobody knows about."""
        if await self._remove([node.key for node in snapshot.nodes] + snapshot.leftovers):
            await asyncio.sleep(self.interval)   # the next cycle tries again
            return
        failpoint("snapshot.after_objects_deleted")
        await self.snapshots.delete(snapshot.name)
        log.info("snapshot deleted", snapshot=snapshot.name, source=snapshot.source)

    # -- automatic snapshots ------------------------------------------------------------------

    async def _schedule_automated(self, sources: list[Source], clusters: dict[str, Cluster],
                                  existing: list[Snapshot]) -> list[str]:
        now = self.clock()
        taken = {(s.group_source, s.window_start) for s in existing if s.source == "automated"}
        actions = []
        for source in sources:
            if not source.window:
                continue
            start = windows.parse(source.window).current_start(now)
            if start is None or (source.resource_id, start) in taken:
                continue
            snapshot = self._automated_snapshot(source, clusters, start)
            if snapshot is None:
                continue
            try:
                await self.snapshots.create(snapshot)
            except Exception as exc:  # noqa: BLE001 - a name a user took: skip this window
                log.warning("automatic snapshot not recorded", snapshot=snapshot.name, error=str(exc))
                continue
            actions.append(f"scheduled {snapshot.name}")
        return actions

    def _automated_snapshot(self, source: Source, clusters: dict[str, Cluster], start: float) -> Snapshot | None:
        """The record CreateSnapshot would write, for this window; None when not available now."""
        group = source.group
        if group is not None:
            if group.status != GroupStatus.AVAILABLE:
                return None
            members = {m: clusters.get(m) for m in group.members}
            cluster = members.get(pick_member(group, members))
        else:
            cluster = clusters.get(source.resource_id)
        if cluster is None or cluster.status != ClusterStatus.AVAILABLE:
            return None
        snapshot = snapshot_of(windows.automated_name(source.resource_id, start), "automated", cluster, group,
                               self.clock())
        snapshot.window_start = start
        return snapshot

    async def _prune(self, sources: list[Source], existing: list[Snapshot]) -> list[str]:
        """Automated snapshots past their source's retention limit (all of them once the source
        is deleted or its limit is 0) become `deleting`; manual and final ones are kept."""
        limits = {source.resource_id: source.limit for source in sources}
        actions = []
        for prune in decide_pruning(existing, limits, self.clock()):
            def doom(s: Snapshot) -> bool:
                if s.status not in PRUNABLE:
                    return False
                s.status = SnapshotStatus.DELETING
                return True
            await self.snapshots.mutate(prune.name, doom)
            actions.append(prune.sentence)
        return actions


class Source(NamedTuple):
    """A redis cluster or group with automatic snapshots on."""
    resource_id: str
    group: ReplicationGroup | None
    limit: int            # days they are kept
    window: str           # hh24:mi-hh24:mi


def automatic_sources(clusters: dict[str, Cluster], groups: list[ReplicationGroup]) -> list[Source]:
    sources = [Source(c.cluster_id, None, c.snapshot_retention_limit, c.snapshot_window) for c in clusters.values()
               if c.engine == "redis" and not c.replication_group_id and c.snapshot_retention_limit]
    sources += [Source(g.group_id, g, g.snapshot_retention_limit, g.snapshot_window) for g in groups
                if g.snapshot_retention_limit]
    return sources


def pick_member(group: ReplicationGroup, members: dict) -> str:
    """The member a group's snapshot is taken on: the chosen snapshotting cluster, else an
    available replica (a fork on the primary would slow its writes), else the primary."""
    chosen = group.snapshotting_cluster_id
    if chosen and chosen in members:
        return chosen
    for member in group.replicas:
        cluster = members.get(member)
        if cluster is not None and cluster.status == ClusterStatus.AVAILABLE:
            return member
    return group.primary
