"""Who is primary and who follows whom, derived from desired state alone.

A replication group's member is primary if the group says so, else a replica of
the group's primary. A standalone cluster (memcached, or redis outside a group) has
no role: nothing can be promoted in its place, so nothing fences it, not even a
coordinator that stopped answering. Primaries are writable only while the
coordinator lists them in heartbeat answers (see the agent's lease), so this
module also says which nodes to list.
"""
from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, ReplicationGroup


class ReplicationRole(enum.StrEnum):
    STANDALONE = ""                # memcached, or redis outside a group
    PRIMARY = "primary"
    REPLICA = "replica"


@dataclass(frozen=True)
class Role:
    role: ReplicationRole = ReplicationRole.STANDALONE
    primary_address: str = ""
    primary_port: int = 0
    write_fenced: bool = False     # a planned switch holds writes on the old primary
    # A primary refuses writes by itself unless a replica acknowledges (min-replicas-to-write):
    # on while the group has a healthy replica, so a primary cut off from its replicas stops
    # writing even when its agent cannot fence it.
    write_guard: bool = False
    term: int = 0                  # the group's epoch: raised at every change of primary
    peers: tuple[str, ...] = ()    # a primary: its replicas' cluster ids (failsafe confirmation)


PRIMARY = Role(ReplicationRole.PRIMARY)


def roles(groups: list[ReplicationGroup], clusters: dict[str, Cluster],
          guarded: Collection[str] = (), withheld: Collection[str] = ()) -> dict[str, Role]:
    """cluster id -> the role of its (single) node, for every group member; `guarded`: the
    groups with a healthy replica, whose primary runs with the write guard; `withheld`: the
    groups whose primary is fenced before a failover (it still serves, cut off from its replicas)."""
    result: dict[str, Role] = {}
    for group in groups:
        primary = clusters.get(group.primary)
        primary_node = next(iter(primary.nodes.values()), None) if primary else None
        for member in group.members:
            if member not in clusters:
                continue
            if group.primary_failed:    # detached, read-only, keeps its data
                result[member] = Role(ReplicationRole.PRIMARY, write_fenced=True, term=group.epoch)
            elif member == group.primary:
                peers = tuple(m for m in group.replicas if m in clusters)
                result[member] = Role(ReplicationRole.PRIMARY,
                                      write_fenced=bool(group.switch_to) or group.group_id in withheld,
                                      write_guard=group.group_id in guarded and bool(peers),
                                      term=group.epoch, peers=peers)
            elif primary_node is not None and primary_node.address:
                result[member] = Role(ReplicationRole.REPLICA, primary_node.address, group.port, term=group.epoch)
            else:   # its primary has no address yet: a member never takes writes on its own
                result[member] = Role(ReplicationRole.PRIMARY, write_fenced=True, term=group.epoch)
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
