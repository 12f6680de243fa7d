"""The DNS names cachefleet publishes, derived from desired state alone."""
from __future__ import annotations

from collections.abc import Sequence

from coordinator.domain.model import Cluster, NodeStatus, ReplicationGroup


def node_name(cluster_id: str, node_id: str, zone: str) -> str:
    return f"{node_id}.{cluster_id}.{zone}"


def configuration_name(cluster_id: str, zone: str) -> str:
    return f"{cluster_id}.cfg.{zone}"


def primary_name(group_id: str, zone: str) -> str:
    return f"{group_id}.primary.{zone}"


def reader_name(group_id: str, zone: str) -> str:
    return f"{group_id}.reader.{zone}"


def desired_records(clusters: list[Cluster], zone: str,
                    groups: Sequence[ReplicationGroup] = ()) -> dict[str, list[str]]:
    """Every node's name -> its host's address; a memcached cluster's configuration
    endpoint -> the addresses of all its nodes that are not being removed; a replication
    group's primary endpoint -> its primary, its reader endpoint -> its replicas (the
    primary when it has none)."""
    records: dict[str, list[str]] = {}
    for cluster in clusters:
        members = []
        for node in cluster.nodes.values():
            if not node.address:
                continue
            records[node_name(cluster.cluster_id, node.node_id, zone)] = [node.address]
            if node.status != NodeStatus.DELETING:
                members.append(node.address)
        if cluster.engine == "memcached" and members:
            records[configuration_name(cluster.cluster_id, zone)] = sorted(set(members))
    address = {c.cluster_id: n.address for c in clusters for n in c.nodes.values() if n.address}
    for group in groups:
        if group.primary in address:
            records[primary_name(group.group_id, zone)] = [address[group.primary]]
        readers = sorted({address[m] for m in group.replicas if m in address})
        if readers or group.primary in address:
            records[reader_name(group.group_id, zone)] = readers or [address[group.primary]]
    return records
