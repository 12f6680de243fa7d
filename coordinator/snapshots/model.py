"""Snapshot records: one store record per snapshot, changed by compare-and-set.

A record is written before any object exists (status creating) and removed only after
its objects are gone (status deleting first), so a crash at any instant leaves either a
record that the runner finishes, or nothing: never an object without a record.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.state.repository import Repository
from coordinator.state.store import Store


class SnapshotStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    COPYING = "copying"
    DELETING = "deleting"
    FAILED = "failed"


@dataclass
class NodeSnapshot:
    cluster_id: str
    node_id: str
    key: str = ""                  # the RDB object's key in the snapshot store
    size: int = 0
    sha256: str = ""
    node_created: float = 0.0
    taken: float = 0.0             # when the RDB was written


@dataclass
class Snapshot:
    name: str
    source: str                    # manual | automated
    status: SnapshotStatus = SnapshotStatus.CREATING
    cluster_id: str = ""           # the cluster whose node is (or was) snapshotted
    group_id: str = ""
    group_description: str = ""
    engine: str = "redis"
    engine_version: str = ""
    node_type: str = ""
    zone: str = ""
    cluster_created: float = 0.0
    maintenance_window: str = ""
    port: int = 0
    parameter_group: str = ""
    auto_minor_version_upgrade: bool = True
    retention_limit: int = 0
    snapshot_window: str = ""
    automatic_failover: str = ""
    created: float = 0.0           # when it was requested
    nodes: list[NodeSnapshot] = field(default_factory=list)
    reason: str = ""               # why it failed
    copy_of: str = ""              # copying: the source snapshot's name
    window_start: float = 0.0      # automated: the start of the window it was taken in
    final: bool = False            # the last snapshot of a deleted cluster or group
    # object keys an attempt may have written and no one has removed yet: recorded before the
    # agent (or a copy) writes, kept by a failed snapshot until its cleanup has removed them
    leftovers: list[str] = field(default_factory=list)
    # taken of a cluster with at-rest encryption: its objects (and its copies') are stored
    # encrypted; ElastiCache shows no such flag on a snapshot, describe shows ours
    encrypted: bool = False

    @property
    def group_source(self) -> str:
        """What an automated snapshot belongs to: its group, else its cluster."""
        return self.group_id or self.cluster_id

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        # older records noted rdb_checked: every restore checks the bytes now
        nodes = [NodeSnapshot(**{k: v for k, v in n.items() if k != "rdb_checked"}) for n in data.get("nodes", [])]
        return cls(**{**data, "status": SnapshotStatus(data["status"]), "nodes": nodes})


def snapshot_key(name: str) -> str:
    return f"snapshots/{name}"


def snapshot_not_found(name: str) -> ApiError:
    return ApiError("SnapshotNotFoundFault", f"Snapshot {name} not found.")


class SnapshotRepo(Repository[Snapshot]):
    def __init__(self, store: Store):
        super().__init__(store, snapshot_key(""), Snapshot.from_dict, lambda s: s.name, snapshot_not_found,
                         "Snapshot")

    async def create(self, snapshot: Snapshot) -> None:
        if not await self.insert(snapshot):
            raise ApiError("SnapshotAlreadyExistsFault", f"Snapshot {snapshot.name} already exists.")


def snapshot_of(name: str, source: str, cluster: Cluster, group: ReplicationGroup | None, now: float) -> Snapshot:
    """A `creating` record of the node of `cluster`, carrying what a restore recreates."""
    node = next(iter(sorted(cluster.live_nodes, key=lambda n: n.node_id)), None)
    owner = group if group is not None else cluster
    return Snapshot(
        name=name, source=source, cluster_id=cluster.cluster_id,
        group_id=group.group_id if group else "", group_description=group.description if group else "",
        engine=cluster.engine, engine_version=cluster.node_version(node) if node else cluster.engine_version,
        node_type=cluster.node_type, zone=node.zone if node else "", cluster_created=cluster.created,
        maintenance_window=owner.maintenance_window, port=cluster.port, parameter_group=cluster.parameter_group,
        auto_minor_version_upgrade=owner.auto_minor_version_upgrade,
        retention_limit=owner.snapshot_retention_limit, snapshot_window=owner.snapshot_window,
        automatic_failover=("enabled" if group.automatic_failover else "disabled") if group else "",
        created=now, encrypted=cluster.at_rest_encryption)
