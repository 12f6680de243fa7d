"""Who is primary and who follows whom, derived from desired state alone.

Every redis node has a role: a standalone redis cluster is a primary with no
replicas, a replication group's member is primary if the group says so, else a
replica of the group's primary. Primaries are writable only while the
coordinator lists them in heartbeat answers (see the agent's lease), so this
module also says which nodes to list.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, ReplicationGroup


class ReplicationRole(enum.StrEnum):
    STANDALONE = ""                # memcached
    PRIMARY = "primary"
    REPLICA = "replica"


@dataclass(frozen=True)
class Role:
    role: ReplicationRole = ReplicationRole.STANDALONE
    primary_address: str = ""
    primary_port: int = 0
    write_fenced: bool = False     # a planned switch holds writes on the old primary


PRIMARY = Role(ReplicationRole.PRIMARY)


def roles(groups: list[ReplicationGroup], clusters: dict[str, Cluster]) -> dict[str, Role]:
    """cluster id -> the role of its (single) node, for every redis cluster."""
    result: dict[str, Role] = {cid: PRIMARY for cid, c in clusters.items() if c.engine == "redis"}
    for group in groups:
        primary = clusters.get(group.primary)
        primary_node = next(iter(primary.nodes.values()), None) if primary else None
        for member in group.members:
            if member not in clusters:
                continue
            if group.primary_failed:
                result[member] = Role(ReplicationRole.PRIMARY, write_fenced=True)   # detached, read-only, keeps its data
            elif member == group.primary:
                result[member] = Role(ReplicationRole.PRIMARY, write_fenced=bool(group.switch_to))
            elif primary_node is not None and primary_node.address:
                result[member] = Role(ReplicationRole.REPLICA, primary_node.address, group.port)
    return result


def writable_primaries(role_of: dict[str, Role], clusters: dict[str, Cluster]) -> dict[str, list[str]]:
    """host id -> node keys of the primaries there that may take writes now."""
    by_host: dict[str, list[str]] = {}
    for cluster_id, role in role_of.items():
        cluster = clusters.get(cluster_id)
        if cluster is None or role.role != ReplicationRole.PRIMARY or role.write_fenced or cluster.status == ClusterStatus.DELETING:
            continue
        for node in cluster.nodes.values():
            if node.host_id:
                by_host.setdefault(node.host_id, []).append(cluster.node_key(node.node_id))
    return by_host


def protected_primaries(groups: list[ReplicationGroup]) -> set[str]:
    """Primaries that must never be restarted or re-created in place: they have replicas,
    which would follow an empty primary and lose their data. A failover replaces them."""
    return {g.primary for g in groups if g.replicas and g.status != GroupStatus.DELETING}
