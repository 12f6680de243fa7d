"""A cluster modification, applied now (ApplyImmediately) or kept for the maintenance window.

ModifyCacheCluster validates a change by applying it to a copy of the cluster; with
ApplyImmediately the copy is written, without it the change is kept as
PendingModifiedValues and the reconciler applies it, the same way, inside the window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from cachefleet.common import versions
from cachefleet.v1 import cache_control_pb2 as cache_pb

from coordinator.domain import validation
from coordinator.domain.errors import combination, group_member, insufficient_capacity, invalid
from coordinator.domain.model import (Cluster, ClusterStatus, GroupStatus, Node, NodeMove, NodeStatus, PendingChanges,
                                      ReplicationGroup)
from coordinator.domain.placement import HostView, account_usage, copy_view, place_nodes


@dataclass
class ClusterChange:
    num_cache_nodes: int | None = None
    remove: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    engine_version: str = ""
    cache_node_type: str = ""

    @classmethod
    def from_request(cls, request: cache_pb.ModifyCacheClusterRequest) -> ClusterChange:
        return cls(request.num_cache_nodes if request.HasField("num_cache_nodes") else None,
                   list(request.cache_node_ids_to_remove), list(request.new_availability_zones),
                   request.engine_version, request.cache_node_type)

    @classmethod
    def from_pending(cls, pending: PendingChanges) -> ClusterChange:
        return cls(pending.num_cache_nodes, list(pending.cache_node_ids_to_remove), list(pending.zones),
                   pending.engine_version, pending.cache_node_type)

    def to_pending(self) -> PendingChanges:
        return PendingChanges(self.num_cache_nodes, list(self.remove), list(self.zones), self.engine_version,
                              self.cache_node_type)


def apply_change(cluster: Cluster, change: ClusterChange, views: dict[str, HostView], known_zones: set[str],
                 fleet_versions: set[str], now: float) -> list[str]:
    """Change `cluster` in place (views: the fleet without this cluster's usage).
    Returns what it does, one note per part; raises ApiError and leaves callers' copies alone."""
    notes = _resize(cluster, change, views, known_zones, now)
    notes += _upgrade(cluster, change.engine_version, views, fleet_versions)
    notes += _scale(cluster, change.cache_node_type, views)
    if notes:
        cluster.status = ClusterStatus.MODIFYING
    return notes


def _resize(cluster: Cluster, change: ClusterChange, views: dict[str, HostView], known_zones: set[str], now: float) -> list[str]:
    live_ids = {n.node_id for n in cluster.live_nodes}
    if change.num_cache_nodes is None:
        if change.remove:
            raise invalid("CacheNodeIdsToRemove needs NumCacheNodes, the number of nodes to keep.")
        if change.zones:
            raise invalid("NewAvailabilityZones needs NumCacheNodes larger than the current count.")
        return []
    target = validation.num_nodes(change.num_cache_nodes, cluster.engine)
    if target > len(live_ids):
        if change.remove:
            raise combination("CacheNodeIdsToRemove cannot be given when NumCacheNodes grows.")
        count = target - len(live_ids)
        wanted = validation.zones(change.zones, count, known_zones)
        trial = {k: copy_view(v) for k, v in views.items()}
        account_usage(trial, [cluster])
        for slot in place_nodes(list(trial.values()), cluster, count, wanted, cluster.port):
            node_id = cluster.new_node_id()
            cluster.nodes[node_id] = Node(node_id, NodeStatus.CREATING, slot.host.host_id, slot.host.zone,
                                          slot.address, created=now)
        return [f"adding {count} cache node(s)"]
    if target < len(live_ids):
        validation.node_ids(change.remove, live_ids, "CacheNodeIdsToRemove")
        if len(change.remove) != len(live_ids) - target:
            raise invalid(f"NumCacheNodes {target} needs {len(live_ids) - target} entries in "
                          f"CacheNodeIdsToRemove, got {len(change.remove)}.")
        for node_id in change.remove:
            cluster.nodes[node_id].status = NodeStatus.DELETING
        return [f"removing cache node(s) {', '.join(sorted(change.remove))}"]
    if change.remove or change.zones:
        raise invalid(f"NumCacheNodes is already {target}.")
    return []


def check_version_change(engine: str, current: str, wanted: str, fleet_versions: set[str]) -> str:
    """The installed version `wanted` names (a prefix works), refusing a major downgrade."""
    target = versions.resolve(wanted, fleet_versions)
    if target is None:
        raise invalid(f"Engine version {wanted} of {engine} is not installed on the fleet; available: "
                      f"{', '.join(sorted(fleet_versions, key=versions.key)) or 'none'}.")
    if versions.is_downgrade(current, target) and versions.is_major_change(current, target):
        raise combination(f"Cannot downgrade {engine} from {current} to {target}: a major version cannot go back.")
    return target


def _upgrade(cluster: Cluster, wanted: str, views: dict[str, HostView], fleet_versions: set[str]) -> list[str]:
    if not wanted:
        return []
    if cluster.replication_group_id:
        raise group_member(cluster, "use ModifyReplicationGroup --engine-version.")
    target = check_version_change(cluster.engine, cluster.engine_version, wanted, fleet_versions)
    if target == cluster.engine_version:
        return []
    # a TLS cluster needs the target built with TLS (the 6.0.x builds are not)
    tls = bool(cluster.transit_encryption_mode)
    missing = sorted({n.host_id for n in cluster.live_nodes if n.host_id in views
                      and target not in (views[n.host_id].tls_engines if tls else views[n.host_id].engines)
                      .get(cluster.engine, set())})
    if missing:
        built = " built with TLS" if cluster.transit_encryption_mode else ""
        raise insufficient_capacity(f"{cluster.engine} {target}{built} is not installed on host(s) "
                                    f"{', '.join(missing)} where this cluster runs.")
    for node in cluster.nodes.values():
        node.engine_version = cluster.node_version(node)      # each node keeps its version until its turn
    cluster.engine_version = target
    return [f"upgrading the engine to {target}, node by node"]


def roll_upgrade(cluster: Cluster) -> str | None:
    """One step of a rolling patch: when every node serves, move the next one to the
    cluster's version. Returns the node id it moved, or None (done, or wait)."""
    behind = sorted(n.node_id for n in cluster.live_nodes if cluster.node_version(n) != cluster.engine_version)
    if not behind or any(n.status != NodeStatus.AVAILABLE for n in cluster.live_nodes):
        return None
    node = cluster.nodes[behind[0]]
    node.engine_version, node.status = "", NodeStatus.MODIFYING
    return node.node_id


def upgrading(cluster: Cluster) -> bool:
    return any(cluster.node_version(n) != cluster.engine_version for n in cluster.live_nodes)


def dry_run(cluster: Cluster, apply: Callable[[Cluster], Any]) -> Any:
    """Apply a change to a copy: raises what applying it would raise, changes nothing."""
    return apply(Cluster.from_dict(cluster.to_dict()))


def start_group_upgrade(group: ReplicationGroup, version: str) -> None:
    """Set a replication group's target version; the group reconciler rolls it out member by
    member: replicas first, then a planned switch, then the old primary."""
    group.engine_version = version
    group.status = GroupStatus.MODIFYING


def minor_upgrade(engine: str, current: str, fleet_versions: set[str]) -> str | None:
    """The newest installed version that is a minor (Z) upgrade of `current`, if any:
    what AutoMinorVersionUpgrade applies in the maintenance window. Never a major one."""
    same_major = [v for v in fleet_versions if versions.valid(v) and not versions.is_major_change(current, v)]
    target = versions.newest(same_major)
    return target if target and versions.is_upgrade(current, target) else None


def check_scaling(engine: str, current: str, wanted: str, clusters: list[Cluster],
                  views: dict[str, HostView], movable: bool = False) -> tuple[str, dict[str, NodeMove]]:
    """The node type redis `clusters` (one cluster, or a group's members) can scale to, and
    the members that must move to another host to get the memory (member id -> where).

    A host with the new type's memory free (views charge everything but these clusters)
    scales its node in place: maxmemory follows live, data and endpoints stay. A group
    member whose host lacks it moves (`movable`: a new node of the new type on another
    host, filled by replication, under the same name); a standalone node cannot move
    without losing its data, so that is refused, as is a fleet with no room at all."""
    node_type = validation.node_type(wanted, engine)
    if engine != "redis":
        raise combination("A memcached cluster keeps its node type; add or remove nodes instead.")
    if node_type.name == current:
        return current, {}
    trial = {k: copy_view(v) for k, v in views.items()}
    stay = [(c, n) for c in clusters for n in c.live_nodes
            if n.host_id in trial and trial[n.host_id].free_mb() >= node_type.memory_mb]
    for _, node in stay:
        trial[node.host_id or ""].allocated_mb += node_type.memory_mb
    short = [(c, n) for c in clusters for n in c.live_nodes if (c, n) not in stay]
    if short and not movable:
        raise insufficient_capacity(f"Host(s) {', '.join(sorted({n.host_id or '?' for _, n in short}))} lack the "
                                    f"{node_type.memory_mb} MB of a {node_type.name} node.")
    moves: dict[str, NodeMove] = {}
    spread = Cluster(clusters[0].replication_group_id or clusters[0].cluster_id, engine,
                     clusters[0].engine_version, node_type.name, port=clusters[0].port)
    for c in clusters:
        for n in c.live_nodes:
            spread.nodes[f"{c.cluster_id}/{n.node_id}"] = Node(n.node_id, host_id=n.host_id, zone=n.zone)
    for cluster, node in short:
        (slot,) = place_nodes(list(trial.values()), spread, 1, [None], cluster.port, distinct_hosts=True)
        spread.nodes[f"{cluster.cluster_id}/move"] = Node(node.node_id, host_id=slot.host.host_id,
                                                           zone=slot.host.zone)
        moves[cluster.cluster_id] = NodeMove(slot.host.host_id, slot.host.zone, slot.address)
    return node_type.name, moves


def scale_nodes(cluster: Cluster, node_type: str) -> None:
    """Give the cluster its new node type; its nodes show `modifying` until they run it."""
    cluster.node_type = node_type
    for node in cluster.live_nodes:
        node.status = NodeStatus.MODIFYING


def _scale(cluster: Cluster, wanted: str, views: dict[str, HostView]) -> list[str]:
    if not wanted:
        return []
    if cluster.replication_group_id:
        raise group_member(cluster, "use ModifyReplicationGroup --cache-node-type.")
    target, _ = check_scaling(cluster.engine, cluster.node_type, wanted, [cluster], views)
    if target == cluster.node_type:
        return []
    scale_nodes(cluster, target)
    return [f"scaling to {target}"]


def scale_group(group: ReplicationGroup, members: dict[str, Cluster], node_type: str,
                moves: dict[str, NodeMove]) -> None:
    """A replication group and its members take the new node type: in place where the host
    has the memory (maxmemory live, nothing restarts); members in `moves` are marked to
    move, one at a time, by the group reconciler."""
    group.node_type = node_type
    group.status = GroupStatus.MODIFYING
    for member_id, member in members.items():
        if member_id in moves:
            member.node_type, member.move = node_type, moves[member_id]
        else:
            scale_nodes(member, node_type)
        member.status = ClusterStatus.MODIFYING


def applying_live(cluster: Cluster) -> None:
    """A change every node's agent makes live (TLS listeners, ACL users): an available cluster
    and its serving nodes show `modifying` until each node's agent runs the new spec (the
    reconciler moves a node back to `available` only then), so `--wait` means it is in force.
    A cluster creating or rebooting keeps its state: its nodes already wait for their specs."""
    if cluster.status == ClusterStatus.AVAILABLE:
        cluster.status = ClusterStatus.MODIFYING
    if cluster.status != ClusterStatus.MODIFYING:
        return
    for node in cluster.live_nodes:
        if node.status == NodeStatus.AVAILABLE:
            node.status = NodeStatus.MODIFYING


def applying_live_in_group(group: ReplicationGroup, members: dict[str, Cluster]) -> None:
    """applying_live for every member; the group is `modifying` until they all are available."""
    if group.status == GroupStatus.AVAILABLE and not group.switch_to:
        group.status = GroupStatus.MODIFYING
    for member in members.values():
        applying_live(member)
