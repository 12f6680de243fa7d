"""Snapshot records made from a cluster, and shown as DescribeSnapshots shows them."""
from __future__ import annotations

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.convert import timestamp
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.snapshots.model import Snapshot


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
        created=now)


def size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def snapshot_message(snapshot: Snapshot, arn_of) -> pb.Snapshot:
    message = pb.Snapshot(
        snapshot_name=snapshot.name, replication_group_id=snapshot.group_id,
        replication_group_description=snapshot.group_description, cache_cluster_id=snapshot.cluster_id,
        snapshot_status=snapshot.status.value, snapshot_source=snapshot.source,
        cache_node_type=snapshot.node_type, engine=snapshot.engine, engine_version=snapshot.engine_version,
        num_cache_nodes=1, preferred_availability_zone=snapshot.zone,
        cache_cluster_create_time=timestamp(snapshot.cluster_created),
        preferred_maintenance_window=snapshot.maintenance_window, port=snapshot.port,
        cache_parameter_group_name=snapshot.parameter_group,
        auto_minor_version_upgrade=snapshot.auto_minor_version_upgrade,
        snapshot_retention_limit=snapshot.retention_limit, snapshot_window=snapshot.snapshot_window,
        automatic_failover=snapshot.automatic_failover, status_reason=snapshot.reason,
        arn=arn_of(snapshot.name + "/"))
    for node in snapshot.nodes:
        message.node_snapshots.append(pb.NodeSnapshot(
            cache_cluster_id=node.cluster_id, cache_node_id=node.node_id, cache_size=size_text(node.size),
            cache_node_create_time=timestamp(node.node_created), snapshot_create_time=timestamp(node.taken),
            size_bytes=node.size, sha256=node.sha256))
    return message
