"""CacheControl RPCs for backup and restore.

CreateSnapshot / CopySnapshot / DeleteSnapshot only record what should happen (a
`creating` or `deleting` record) and wake the snapshot runner, which does the work; a
refused request writes nothing. The rules that create and delete of clusters and groups
share with these RPCs are in api/snapshot_rules.py.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.lookups import find_cluster
from coordinator.api.paging import paginate
from coordinator.api.errors import rpc_errors
from coordinator.api.snapshot_rules import NOT_SUPPORTED, invalid_state, snapshot_name
from coordinator.domain.errors import ApiError, cluster_state, combination, group_not_found, group_state, invalid
from coordinator.domain.model import ClusterStatus, GroupStatus
from coordinator.api.convert import snapshot_message
from coordinator.snapshots.model import Snapshot, SnapshotRepo, SnapshotStatus, snapshot_not_found, snapshot_of
from coordinator.snapshots.runner import SnapshotRunner, pick_member
from coordinator.state.events import EventLog
from coordinator.state.repos import ClusterRepo, GroupRepo


class SnapshotServicer:
    def __init__(self, snapshots: SnapshotRepo, repo: ClusterRepo, groups: GroupRepo, events: EventLog,
                 runner: SnapshotRunner, clock: Callable[[], float] = time.time) -> None:
        self.snapshots = snapshots
        self.repo = repo
        self.groups = groups
        self.events = events
        self.runner = runner
        self.clock = clock

    def _snapshot_reply(self, snapshot: Snapshot) -> pb.Snapshot:
        return snapshot_message(snapshot, self.runner.storage.arn)

    # -- RPCs -----------------------------------------------------------------------------------

    @rpc_errors
    async def CreateSnapshot(self, request, context):
        name = snapshot_name(request.snapshot_name)
        if bool(request.replication_group_id) == bool(request.cache_cluster_id):
            raise combination("Give either ReplicationGroupId or CacheClusterId.")
        group = None
        if request.replication_group_id:
            group = await self.groups.get(request.replication_group_id.lower())
            if group is None:
                raise group_not_found(request.replication_group_id.lower())
            if group.status != GroupStatus.AVAILABLE:
                raise group_state(group.group_id, group.status.value)
            members = {m: await self.repo.get(m) for m in group.members}
            cluster = members[pick_member(group, members)]
        else:
            cluster = await find_cluster(self.repo, request.cache_cluster_id)
            if cluster.engine != "redis":
                raise ApiError(NOT_SUPPORTED, f"Snapshots are available only for redis; cache cluster "
                                              f"{cluster.cluster_id} runs {cluster.engine}.")
            if cluster.replication_group_id:
                group = await self.groups.get(cluster.replication_group_id)
        if cluster.status != ClusterStatus.AVAILABLE:
            raise cluster_state(cluster.cluster_id, cluster.status.value)
        snapshot = snapshot_of(name, "manual", cluster, group, self.clock())
        await self.snapshots.create(snapshot)
        await self.events.record("cache-cluster", cluster.cluster_id, f"Snapshot {name} creating")
        self.runner.wake()
        return pb.CreateSnapshotResponse(snapshot=self._snapshot_reply(snapshot))

    @rpc_errors
    async def DescribeSnapshots(self, request, context):
        if request.snapshot_source and request.snapshot_source not in ("manual", "automated"):
            raise invalid(f"SnapshotSource must be manual or automated, got {request.snapshot_source!r}.")
        if request.snapshot_name:
            found = await self.snapshots.get(request.snapshot_name)
            if found is None:
                raise snapshot_not_found(request.snapshot_name)
            listed = [found]
        else:
            listed = sorted(await self.snapshots.all(), key=lambda s: (s.created, s.name))
        listed = [s for s in listed
                  if (not request.cache_cluster_id or s.cluster_id == request.cache_cluster_id.lower())
                  and (not request.replication_group_id or s.group_id == request.replication_group_id.lower())
                  and (not request.snapshot_source or s.source == request.snapshot_source)]
        page, marker = paginate(listed, request.max_records, request.marker)
        return pb.DescribeSnapshotsResponse(marker=marker, snapshots=[self._snapshot_reply(s) for s in page])

    @rpc_errors
    async def CopySnapshot(self, request, context):
        source_name = snapshot_name(request.source_snapshot_name, "SourceSnapshotName")
        target_name = snapshot_name(request.target_snapshot_name, "TargetSnapshotName")
        source = await self.snapshots.get(source_name)
        if source is None:
            raise snapshot_not_found(source_name)
        if source.status != SnapshotStatus.AVAILABLE:
            raise invalid_state(source_name, source.status.value, "copied")
        target = Snapshot.from_dict({**source.to_dict(), "name": target_name, "source": "manual",
                                     "status": SnapshotStatus.CREATING.value, "nodes": [], "copy_of": source_name,
                                     "created": self.clock(), "final": False, "window_start": 0.0, "reason": ""})
        await self.snapshots.create(target)
        self.runner.wake()
        return pb.CopySnapshotResponse(snapshot=self._snapshot_reply(target))

    @rpc_errors
    async def DeleteSnapshot(self, request, context):
        name = snapshot_name(request.snapshot_name)
        copying_from = {s.copy_of for s in await self.snapshots.all() if s.status == SnapshotStatus.CREATING}

        def doom(snapshot: Snapshot) -> None:
            if snapshot.status in (SnapshotStatus.CREATING, SnapshotStatus.DELETING):
                raise invalid_state(name, snapshot.status.value, "deleted")
            if name in copying_from:
                raise invalid_state(name, "being copied", "deleted")
            snapshot.status = SnapshotStatus.DELETING
        snapshot = await self.snapshots.mutate(name, doom)
        await self.events.record("cache-cluster", snapshot.cluster_id, f"Snapshot {name} deleting")
        self.runner.wake()
        return pb.DeleteSnapshotResponse(snapshot=self._snapshot_reply(snapshot))

