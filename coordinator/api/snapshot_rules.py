"""The snapshot rules the cluster and replication group servicers share with the snapshot one.

SnapshotName / SnapshotArns on create (RestoreSources), SnapshotRetentionLimit /
SnapshotWindow on create and modify (snapshot_settings), FinalSnapshotIdentifier on
delete (FinalSnapshots), and the `snapshotting` status a resource shows while a snapshot
is being taken from it (SnapshotOverlay).
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from cachefleet.v1 import cache_control_pb2 as pb

from cachefleet.common import versions

from coordinator.domain.errors import ApiError, combination, invalid
from coordinator.domain.model import Cluster, ReplicationGroup, RestoreSource
from coordinator.snapshots import windows
from coordinator.snapshots.model import Snapshot, SnapshotRepo, SnapshotStatus, snapshot_not_found, snapshot_of
from coordinator.snapshots.runner import SnapshotRunner
from coordinator.snapshots.storage import SnapshotStorage, restore_location

_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,254}")
NOT_SUPPORTED = "SnapshotFeatureNotSupportedFault"
R = TypeVar("R")


def snapshot_name(value: str, what: str = "SnapshotName") -> str:
    if not value:
        raise ApiError("MissingParameter", f"The request must contain the parameter {what}.")
    if not _NAME.fullmatch(value) or value.endswith("-"):
        raise invalid(f"{what} must be 1 to 255 letters, digits or hyphens, begin with a letter, and contain "
                      f"no two consecutive hyphens nor end with a hyphen: {value!r}.")
    return value


def invalid_state(name: str, status: str, doing: str) -> ApiError:
    return ApiError("InvalidSnapshotState", f"Snapshot {name} is {status}; it cannot be {doing} now.")


def snapshot_settings(request, resource_id: str, engine: str, maintenance_window: str,
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


def apply_group_snapshot_settings(request, group: ReplicationGroup) -> bool:
    """ModifyReplicationGroup's SnapshotRetentionLimit / SnapshotWindow / SnapshottingClusterId."""
    changed = False
    settings = snapshot_settings(request, group.group_id, "redis", group.maintenance_window,
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


class RestoreSources:
    """What a new cluster or group warm-starts from: a stored snapshot or an RDB object."""

    def __init__(self, snapshots: SnapshotRepo, storage: SnapshotStorage) -> None:
        self.snapshots = snapshots
        self.storage = storage

    async def requested(self, request, engine: str) -> RestoreSource | None:
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
            return RestoreSource(source=arns[0], key=restore_location(self.storage.url, arns[0]))
        snapshot = await self.snapshots.get(request.snapshot_name)
        if snapshot is None:
            raise snapshot_not_found(request.snapshot_name)
        if snapshot.status != SnapshotStatus.AVAILABLE or not snapshot.nodes:
            raise invalid_state(snapshot.name, snapshot.status.value, "restored")
        node = snapshot.nodes[0]
        return RestoreSource(source=snapshot.name, key=node.key, sha256=node.sha256,
                             engine_version=snapshot.engine_version, node_type=snapshot.node_type)

    @staticmethod
    def with_defaults(request, restore: RestoreSource):
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
            version = restore.engine_version
            filled.engine_version = versions.major(version) if version else ""
        return filled

    @staticmethod
    def check_version(restore: RestoreSource | None, version: str) -> None:
        taken_on = restore.engine_version if restore else ""
        if restore and taken_on and versions.compare(taken_on, version) > 0:
            raise combination(f"Snapshot {restore.source} was taken on redis {taken_on}, newer than {version}: "
                              f"an RDB file loads only into the same or a newer engine version.")


class FinalSnapshots:
    """FinalSnapshotIdentifier: recorded before the deletion is written, dropped if it is refused."""

    def __init__(self, snapshots: SnapshotRepo, wake_runner: Callable[[], None], clock: Callable[[], float]) -> None:
        self.snapshots = snapshots
        self.wake_runner = wake_runner
        self.clock = clock

    async def record(self, name: str, cluster: Cluster, group: ReplicationGroup | None) -> Snapshot:
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

    async def write(self, final: Snapshot | None, write: Callable[[], Awaitable[R]]) -> R:
        """Run a deletion's store write; a refused write drops the final snapshot recorded for it."""
        try:
            result = await write()
        except ApiError:
            if final is not None:
                await self.snapshots.delete(final.name)
            raise
        if final is not None:
            self.wake_runner()
        return result


class SnapshotOverlay:
    """Which clusters a snapshot is being taken from right now: as the runner knows it on the
    coordinator that leads; on one that does not (its runner is idle), the clusters whose
    snapshot the store records as still `creating`, read again by `refresh` before a describe."""

    def __init__(self, runner: SnapshotRunner, snapshots: SnapshotRepo | None = None,
                 leads: Callable[[], bool] = lambda: True) -> None:
        self.runner = runner
        self.snapshots = snapshots
        self.leads = leads
        self._recorded: set[str] = set()

    async def refresh(self) -> None:
        if self.snapshots is not None and not self.leads():
            self._recorded = {s.cluster_id for s in await self.snapshots.all()
                              if s.status == SnapshotStatus.CREATING and s.cluster_id}

    def _snapshotting(self) -> set[str]:
        return self.runner.snapshotting if self.leads() else self._recorded

    def busy(self, cluster_id: str) -> bool:
        return cluster_id in self._snapshotting()

    def apply(self, message, cluster_ids: Iterable[str]) -> None:
        """Show `snapshotting` while a snapshot is being taken from an otherwise available resource."""
        field = "cache_cluster_status" if isinstance(message, pb.CacheCluster) else "status"
        if getattr(message, field) == "available" and self._snapshotting() & set(cluster_ids):
            setattr(message, field, "snapshotting")
