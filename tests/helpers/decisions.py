"""Builders for the decision tests: records and agent reports as a cycle observes them.

Every NodeState the decision tests use is made here, so a change to how the agent's
messages spell a status, a role or a link state is made in one place.
"""
from __future__ import annotations

from typing import Any

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, Node, NodeMove, NodeStatus, ReplicationGroup
from coordinator.domain.placement import HostView
from coordinator.reconcile.decide_groups import GroupView

VERSION = "7.0.15"
# The words the tests use for what the agent reports, and the enum values it sends.
STATUSES = {"available": agent_pb.NODE_STATUS_AVAILABLE, "failed": agent_pb.NODE_STATUS_FAILED,
            "stopped": agent_pb.NODE_STATUS_STOPPED, "starting": agent_pb.NODE_STATUS_STARTING}
ROLES = {"": agent_pb.ROLE_UNSPECIFIED, "primary": agent_pb.ROLE_PRIMARY, "replica": agent_pb.ROLE_REPLICA}
LINKS = {"": agent_pb.LINK_STATE_UNSPECIFIED, "up": agent_pb.LINK_STATE_UP, "down": agent_pb.LINK_STATE_DOWN}
SIGHTS = {"": agent_pb.PRIMARY_SIGHT_UNSPECIFIED, "seen": agent_pb.PRIMARY_SIGHT_SEEN,
          "refused": agent_pb.PRIMARY_SIGHT_REFUSED, "silent": agent_pb.PRIMARY_SIGHT_SILENT}


def report(key: str = "", status: str = "available", role: str = "", offset: int = 0, link: str = "",
           fenced: bool = False, syncing: bool = False, message: str = "", restarts: int = 0,
           max_memory_mb: int = 0, applied_max_memory_mb: int = 0, sight: str = "",
           unseen_ms: int = 0, guard: bool = False) -> agent_pb.NodeState:
    """What a host says of one node: its status, the spec it runs, its replication."""
    return agent_pb.NodeState(
        node_key=key, status=STATUSES[status], message=message, restarts=restarts, fenced=fenced,
        applied_max_memory_mb=applied_max_memory_mb,
        spec=agent_pb.NodeSpec(node_key=key, role=ROLES[role], max_memory_mb=max_memory_mb, write_guard=guard),
        replication=agent_pb.ReplicationInfo(link_status=LINKS[link], offset=offset, sync_in_progress=syncing,
                                             primary_sight=SIGHTS[sight], primary_unseen_ms=unseen_ms))


SOURCES = {"empty": agent_pb.DATA_SOURCE_EMPTY, "rdb": agent_pb.DATA_SOURCE_RDB, "aof": agent_pb.DATA_SOURCE_AOF}


def started(state: agent_pb.NodeState, source: str = "aof", saved_ms: int = 0, last_write_ms: int = 0,
            keys: int = 0, linked: bool = False) -> agent_pb.NodeState:
    """state, from an agent that says what the engine's start loads (`source` saved at
    `saved_ms`) and the last write of the engine before; `linked`: a replica linked since."""
    state.start_data.CopyFrom(agent_pb.StartData(source=SOURCES[source], saved_unix_ms=saved_ms,
                                                 last_write_unix_ms=last_write_ms, last_write_keys=keys))
    state.replication.linked_since_start = linked
    return state


def replica(offset: int, link: str = "down", **more: Any) -> agent_pb.NodeState:
    return report(role="replica", offset=offset, link=link, **more)


def primary(offset: int = 0, **more: Any) -> agent_pb.NodeState:
    return report(role="primary", offset=offset, **more)


def member(cluster_id: str, host_id: str | None, status: ClusterStatus = ClusterStatus.AVAILABLE,
           version: str = VERSION, node_status: NodeStatus = NodeStatus.AVAILABLE, group_id: str = "g",
           zone: str = "a", move: NodeMove | None = None, node_type: str = "cache.t1.micro") -> Cluster:
    """A one-node redis cluster, member of group `group_id` ("" for a standalone one)."""
    node = Node("0001", status=node_status, host_id=host_id, zone=zone, address=f"10.0.0.{host_id or 0}")
    return Cluster(cluster_id, "redis", version, node_type, 6379, status=status, nodes={"0001": node},
                   replication_group_id=group_id, move=move)


def group(members: list[str], primary_id: str | None = None, *, automatic_failover: bool = True,
          status: GroupStatus = GroupStatus.AVAILABLE, version: str = VERSION, **more: Any) -> ReplicationGroup:
    return ReplicationGroup("g", "test group", primary_id or members[0], members=list(members), status=status,
                            automatic_failover=automatic_failover, engine_version=version, port=6379, **more)


def view(grp: ReplicationGroup, clusters: list[Cluster], reports: dict[str, agent_pb.NodeState | None] | None = None,
         live: set[str] | None = None) -> GroupView:
    """The group as the cycle sees it; every node's host is live unless `live` says otherwise."""
    by_id = {c.cluster_id: c for c in clusters}
    hosts = {n.host_id for c in clusters for n in c.nodes.values() if n.host_id} if live is None else live
    return GroupView(grp, by_id, dict(reports or {}), frozenset(hosts))


def host(host_id: str, zone: str = "a", memory_mb: int = 4096, versions: tuple[str, ...] = (VERSION,),
         engine: str = "redis") -> HostView:
    return HostView(host_id, zone, [f"10.0.{zone}.{host_id}"], memory_mb, {engine: set(versions)})
