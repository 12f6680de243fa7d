"""CacheControl RPCs for backup and restore, and the snapshot rules other RPCs share.

CreateSnapshot / CopySnapshot / DeleteSnapshot only record what should happen (a
`creating` or `deleting` record) and wake the snapshot runner, which does the work; a
refused request writes nothing. Create and delete of clusters and groups use the helpers
here for SnapshotName / SnapshotArns, SnapshotRetentionLimit / SnapshotWindow and
FinalSnapshotIdentifier.
"""
from __future__ import annotations

import re

from cachefleet.v1 import cache_control_pb2 as pb

from cachefleet.common import versions

from coordinator.api.paging import paginate
from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import ApiError, cluster_state, combination, group_not_found, group_state, invalid
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, ReplicationGroup, RestoreSource
from coordinator.snapshots import windows
from coordinator.api.convert import snapshot_message
from coordinator.snapshots.model import snapshot_of
from coordinator.snapshots.model import Snapshot, SnapshotRepo, SnapshotStatus, snapshot_not_found
from coordinator.snapshots.runner import SnapshotRunner, pick_member
from coordinator.snapshots.storage import restore_location

_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,254}$")
NOT_SUPPORTED = "SnapshotFeatureNotSupportedFault"


def snapshot_name(value: str, what: str = "SnapshotName") -> str:
    if not value:
        raise ApiError("MissingParameter", f"The request must contain the parameter {what}.")
    if not _NAME.match(value) or value.endswith("-"):
        raise invalid(f"{what} must be 1 to 255 letters, digits or hyphens, begin with a letter, and contain "
                      f"no two consecutive hyphens nor end with a hyphen: {value!r}.")
    return value


def invalid_state(name: str, status: str, doing: str) -> ApiError:
    return ApiError("InvalidSnapshotState", f"Snapshot {name} is {status}; it cannot be {doing} now.")


class SnapshotRpcs:
    snapshots: SnapshotRepo
    snapshot_runner: SnapshotRunner

    # -- shared by Create/Modify/Delete of clusters and groups ----------------------------------

    def _snapshot_settings(self, request, resource_id: str, engine: str, maintenance_window: str,
                           current: tuple[int, str] | None = None) -> tuple[int, str] | None:
        """(retention limit, window) a create or modify asks for; None when a modify asks nothing."""
        has_limit = request.HasField("snapshot_retention_limit")
        if current is not None and not has_limit and not request.snapshot_window:
            if current[0]:   # automatic snapshots on: a new maintenance window must not meet theirs
                windows.keep_apart(current[1], maintenance_window)
            return None
        if engine != "redis":
            if (has_limit and request.snapshot_retention_limit) or request.snapshot_window:
                raise combination(f"{engine} has no snapshots: SnapshotRetentionLimit and SnapshotWindow apply "
                                  f"to redis only.")
            return 0, ""
        limit, window = current or (0, "")
        if has_limit:
            limit = windows.retention(request.snapshot_retention_limit)
        if request.snapshot_window or not window:
            window = windows.choose(request.snapshot_window, resource_id, maintenance_window)
        return limit, window

    async def _restore_source(self, request, engine: str) -> RestoreSource | None:
        """What SnapshotName / SnapshotArns ask a new cluster to start from (None for nothing)."""
        arns = list(request.snapshot_arns)
        if not arns and not request.snapshot_name:
            return None
        if arns and request.snapshot_name:
            raise combination("Use SnapshotName or SnapshotArns, not both.")
        if engine != "redis":
            raise ApiError(NOT_SUPPORTED, f"{engine} clusters cannot be created from a snapshot.")
        if arns:
            if len(arns) != 1:
                raise invalid(f"SnapshotArns takes one RDB object for a single-shard cluster, got {len(arns)}.")
            url, key = restore_location(self.snapshot_runner.storage.url, arns[0])
            return RestoreSource(source=arns[0], url=url, key=key)
        snapshot = await self.snapshots.get(request.snapshot_name)
        if snapshot is None:
            raise snapshot_not_found(request.snapshot_name)
        if snapshot.status != SnapshotStatus.AVAILABLE or not snapshot.nodes:
            raise invalid_state(snapshot.name, snapshot.status.value, "restored")
        node = snapshot.nodes[0]
        return RestoreSource(source=snapshot.name, url=self.snapshot_runner.storage.url, key=node.key,
                             sha256=node.sha256, rdb_checked=node.rdb_checked,
                             engine_version=snapshot.engine_version, node_type=snapshot.node_type)

    @staticmethod
    def _with_restore_defaults(request, restore: RestoreSource):
        """A copy of a create request with what the snapshot supplies where the caller gave nothing:
        engine redis, the snapshot's node type, one node, and its engine's minor line."""
        filled = type(request)()
        filled.CopyFrom(request)
        filled.engine = filled.engine or "redis"
        if not filled.cache_node_type and restore.node_type:
            filled.cache_node_type = restore.node_type
        if hasattr(filled, "num_cache_nodes") and not filled.num_cache_nodes:
            filled.num_cache_nodes = 1
        if not filled.engine_version:
            filled.engine_version = SnapshotRpcs._restore_version(restore)
        return filled

    @staticmethod
    def _restore_version(restore: RestoreSource) -> str:
        """The version a restore asks for when the caller names none: the snapshot's minor line."""
        version = restore.engine_version
        return versions.major(version) if version else ""

    @staticmethod
    def _check_restore_version(restore: RestoreSource | None, version: str) -> None:
        if restore and restore.engine_version and versions.compare(restore.engine_version, version) > 0:
            raise combination(f"Snapshot {restore.source} was taken on redis {restore.engine_version}, newer than {version}: "
                              f"an RDB file loads only into the same or a newer engine version.")

    async def _final_snapshot(self, name: str, cluster: Cluster, group: ReplicationGroup | None) -> Snapshot:
        """Record the final snapshot of a cluster or group about to be deleted."""
        snapshot_name(name, "FinalSnapshotIdentifier")
        if cluster.engine != "redis":
            raise combination(f"{cluster.engine} has no snapshots: FinalSnapshotIdentifier applies to redis only.")
        if await self.snapshots.get(name) is not None:
            raise ApiError("SnapshotAlreadyExistsFault", f"Snapshot {name} already exists.")
        snapshot = snapshot_of(name, "manual", cluster, group, self.clock())
        snapshot.final = True
        await self.snapshots.create(snapshot)
        return snapshot

    async def _write_with_final_snapshot(self, final: Snapshot | None, write):
        """Run a deletion's store write; a refused write drops the final snapshot recorded for it."""
        try:
            result = await write()
        except ApiError:
            if final is not None:
                await self.snapshots.delete(final.name)
            raise
        if final is not None:
            self.snapshot_runner.wake()
        return result

    def _apply_group_snapshot_settings(self, request, group: ReplicationGroup) -> bool:
        """ModifyReplicationGroup's SnapshotRetentionLimit / SnapshotWindow / SnapshottingClusterId."""
        changed = False
        settings = self._snapshot_settings(request, group.group_id, "redis", group.maintenance_window,
                                           (group.snapshot_retention_limit, group.snapshot_window))
        if settings is not None and settings != (group.snapshot_retention_limit, group.snapshot_window):
            group.snapshot_retention_limit, group.snapshot_window = settings
            changed = True
        if request.snapshotting_cluster_id and request.snapshotting_cluster_id != group.snapshotting_cluster_id:
            if request.snapshotting_cluster_id not in group.members:
                raise invalid(f"SnapshottingClusterId {request.snapshotting_cluster_id} is not a member of "
                              f"replication group {group.group_id}.")
            group.snapshotting_cluster_id, changed = request.snapshotting_cluster_id, True
        return changed

    def _overlay_snapshotting(self, message, cluster_ids) -> None:
        """Show `snapshotting` while a snapshot is being taken from an otherwise available resource."""
        field = "cache_cluster_status" if isinstance(message, pb.CacheCluster) else "status"
        if getattr(message, field) == "available" and self.snapshot_runner.snapshotting & set(cluster_ids):
            setattr(message, field, "snapshotting")

    def _snapshot_reply(self, snapshot: Snapshot) -> pb.Snapshot:
        return snapshot_message(snapshot, self.snapshot_runner.storage.arn)

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
            cluster = await self._get(request.cache_cluster_id)
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
        self.snapshot_runner.wake()
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
        self.snapshot_runner.wake()
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
        self.snapshot_runner.wake()
        return pb.DeleteSnapshotResponse(snapshot=self._snapshot_reply(snapshot))

