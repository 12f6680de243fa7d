"""The DNS names cachefleet publishes, derived from desired state alone."""
from __future__ import annotations

from .model import Cluster, NodeStatus


def node_name(cluster_id: str, node_id: str, zone: str) -> str:
    return f"{node_id}.{cluster_id}.{zone}"


def configuration_name(cluster_id: str, zone: str) -> str:
    return f"{cluster_id}.cfg.{zone}"


def desired_records(clusters: list[Cluster], zone: str) -> dict[str, list[str]]:
    """Every node's name -> its host's address; a memcached cluster's configuration
    endpoint -> the addresses of all its nodes that are not being removed."""
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
    return records
