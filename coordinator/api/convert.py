"""Model objects -> cachefleet.v1 messages, as DescribeCacheClusters shows them."""
from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.domain.dnsnames import configuration_name, node_name
from coordinator.state.events import Event
from coordinator.domain.model import Cluster, NodeStatus, PendingChanges
from coordinator.snapshots.model import Snapshot


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def cluster_message(cluster: Cluster, zone: str, show_nodes: bool) -> pb.CacheCluster:
    live = sorted(cluster.live_nodes, key=lambda n: n.node_id)
    zones = {n.zone for n in live if n.zone}
    message = pb.CacheCluster(
        cache_cluster_id=cluster.cluster_id, cache_node_type=cluster.node_type, engine=cluster.engine,
        engine_version=cluster.engine_version, cache_cluster_status=cluster.status.value,
        num_cache_nodes=len(live),
        preferred_availability_zone=(zones.pop() if len(zones) == 1 else "Multiple" if zones else ""),
        cache_cluster_create_time=timestamp(cluster.created),
        replication_group_id=cluster.replication_group_id, port=cluster.port,
        preferred_maintenance_window=cluster.maintenance_window,
        auto_minor_version_upgrade=cluster.auto_minor_version_upgrade,
        pending_modified_values=pending_message(cluster.pending),
        transit_encryption_enabled=bool(cluster.transit_encryption_mode),
        transit_encryption_mode=cluster.transit_encryption_mode,
        at_rest_encryption_enabled=cluster.at_rest_encryption)
    if cluster.plaintext_port:
        message.plaintext_port = cluster.plaintext_port
    if cluster.engine == "memcached":
        message.configuration_endpoint.CopyFrom(
            pb.Endpoint(address=configuration_name(cluster.cluster_id, zone), port=cluster.config_port or cluster.port))
    if show_nodes:
        for node in sorted(cluster.nodes.values(), key=lambda n: n.node_id):
            message.cache_nodes.append(pb.CacheNode(
                cache_node_id=node.node_id, cache_node_status=node.status.value,
                cache_node_create_time=timestamp(node.created),
                endpoint=pb.Endpoint(address=node_name(cluster.cluster_id, node.node_id, zone), port=cluster.port),
                customer_availability_zone=node.zone, host_id=node.host_id or "",
                host_address=node.address if node.status != NodeStatus.FAILED or node.host_id else ""))
    return message


def pending_message(pending: PendingChanges) -> pb.PendingModifiedValues:
    message = pb.PendingModifiedValues(cache_node_ids_to_remove=pending.cache_node_ids_to_remove,
                                       engine_version=pending.engine_version,
                                       cache_node_type=pending.cache_node_type)
    if pending.num_cache_nodes is not None:
        message.num_cache_nodes = pending.num_cache_nodes
    return message


def event_message(event: Event) -> pb.Event:
    return pb.Event(source_identifier=event.source_identifier, source_type=event.source_type,
                    message=event.message, date=timestamp(event.date), event_id=event.event_id,
                    caller=event.caller)


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
        arn=arn_of(snapshot.name + "/"), at_rest_encryption_enabled=snapshot.encrypted)
    for node in snapshot.nodes:
        message.node_snapshots.append(pb.NodeSnapshot(
            cache_cluster_id=node.cluster_id, cache_node_id=node.node_id, cache_size=size_text(node.size),
            cache_node_create_time=timestamp(node.node_created), snapshot_create_time=timestamp(node.taken),
            size_bytes=node.size, sha256=node.sha256))
    return message
