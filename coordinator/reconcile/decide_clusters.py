"""Cluster and node decisions as functions of what is observed: a lost host, a node's
status from its host's report, repairing a failed node, the maintenance window.

`Reconciler` gathers the observations (store records, the registry's reports, the clock)
and carries out what these functions answer; nothing here awaits or writes.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain import maintenance
from coordinator.domain.changes import minor_upgrade
from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
from coordinator.domain.roles import ReplicationRole, Role
from coordinator.reconcile.actions import NoAction
from coordinator.reconcile.saved_data import keys, node_loss

FAILED_RETRY_SECONDS = 3.0
DEAD_STATUSES = (agent_pb.NODE_STATUS_STOPPED, agent_pb.NODE_STATUS_FAILED)


# -- hosts ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostLost:
    """A host missed its heartbeats for longer than the timeout. Its engines may well still
    run: what follows (re-placing its nodes, failing over its primaries) is decided per node."""
    host_id: str
    timeout: float

    @property
    def reason(self) -> str:
        return f"no heartbeat for {self.timeout:.1f} s"

    @property
    def sentence(self) -> str:
        return f"host {self.host_id} lost"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Host {self.host_id} lost: {self.reason}",)


def homeless(cluster: Cluster, live_hosts: Collection[str], protected: Collection[str],
             lost_for: Mapping[str, float] | None = None, standalone_grace: float = 0.0) -> list[Node]:
    """Nodes to re-create on another host: never placed, or placed on a host that is lost.
    A primary with replicas is never re-created in place of itself (it would come back
    empty and its replicas would follow it): a failover replaces it. A standalone redis
    node's data lives only on its host, which may merely have gone quiet: it waits there
    `standalone_grace` seconds after the host was lost before it is re-created empty
    (a host the registry no longer knows has waited long enough)."""
    if cluster.cluster_id in protected:
        return []
    lost_for = lost_for or {}
    keeps_data = is_standalone_redis(cluster)
    return [n for n in cluster.nodes.values()
            if n.status != NodeStatus.DELETING and (n.host_id is None or n.host_id not in live_hosts)
            and not (keeps_data and n.host_id is not None
                     and lost_for.get(n.host_id, float("inf")) < standalone_grace)]


def is_standalone_redis(cluster: Cluster) -> bool:
    """Its data is in one engine alone: no replica holds a copy."""
    return cluster.engine == "redis" and not cluster.replication_group_id


def dead_protected(cluster: Cluster, protected: Collection[str], host_live: bool,
                   reported: agent_pb.NodeState | None) -> bool:
    """A primary with replicas that is down: only a failover may replace it, so nothing
    restarts it."""
    if cluster.cluster_id not in protected:
        return False
    return not host_live or (reported is not None and reported.status in DEAD_STATUSES)


# -- a node's status and its repair ----------------------------------------------------------------

def node_status(cluster: Cluster, node: Node, role: Role, reported: agent_pb.NodeState | None,
                host_live: bool, spec_current: bool) -> tuple[NodeStatus | None, str]:
    """The status a node should show given its host's report (None: leave it as it is).

    A lost host says nothing of its engines, so its nodes keep their status; so does a node
    whose host has not yet run what it was last asked (`spec_current` False).
    """
    if node.status == NodeStatus.DELETING or not host_live:
        return None, node.message
    if reported is None or not spec_current:
        return None, node.message
    if reported.status == agent_pb.NODE_STATUS_AVAILABLE:
        if node.status == NodeStatus.MODIFYING and cluster.engine == "redis" \
                and reported.applied_max_memory_mb != reported.spec.max_memory_mb:
            return None, node.message       # a new node type: not done until maxmemory is set
        if role.role == ReplicationRole.PRIMARY and not role.write_fenced and reported.fenced:
            return None, node.message       # serving, but not yet taking writes
        if role.role == ReplicationRole.REPLICA and reported.replication.link_status != agent_pb.LINK_STATE_UP:
            return None, node.message       # not yet in sync with its primary
        return NodeStatus.AVAILABLE, ""
    if reported.status == agent_pb.NODE_STATUS_FAILED:
        return NodeStatus.FAILED, reported.message or "the engine process failed"
    return None, node.message


def node_events(node: Node, new: NodeStatus, note: str) -> list[str]:
    """The events a node's move from its recorded status to `new` makes."""
    if new == NodeStatus.AVAILABLE:
        return {
            NodeStatus.CREATING: [f"Added cache node {node.node_id} in availability zone {node.zone}"],
            NodeStatus.RECOVERING: [f"Finished recovery for cache nodes {node.node_id}"],
            NodeStatus.REBOOTING: [f"Cache node {node.node_id} restarted"],
            NodeStatus.FAILED: [f"Cache node {node.node_id} is available again"],
            NodeStatus.MODIFYING: [f"Cache node {node.node_id} modified and serving"],
        }.get(node.status, [])
    if new == NodeStatus.FAILED:
        return [f"Cache node {node.node_id} failed: {note}"]
    return []


def retry_due(status: int, due_at: float | None, now: float) -> tuple[bool, float | None]:
    """Whether to ask the host again to run a node it reports not running, and when the next
    attempt is due (None: forget it). A stopped node is started at once; a failed one again
    every FAILED_RETRY_SECONDS, so an engine that cannot start is not hammered."""
    if status == agent_pb.NODE_STATUS_STOPPED:
        return True, due_at
    if status != agent_pb.NODE_STATUS_FAILED:
        return False, None
    if due_at is None:
        return False, now + FAILED_RETRY_SECONDS
    if now < due_at:
        return False, due_at
    return True, now + FAILED_RETRY_SECONDS


def engine_restarted(node: Node, seen: int | None, restarts: int, replica: bool = False) -> str:
    """The event for an engine its host restarted since the last report ("" when none): memcached
    (supervisord restarts it) and redis replicas (their agent does), counted by the host."""
    if seen is not None and restarts > seen:
        return (f"Cache node {node.node_id} restarted: its engine process exited and was started again "
                f"on host {node.host_id}" + ("; it copies its data from its primary again" if replica else ""))
    return ""


# A redis node restarted while it showed one of these had not been asked to restart.
UNPLANNED_RESTART_STATUSES = (NodeStatus.AVAILABLE, NodeStatus.FAILED)


def redis_restarted(node: Node, seen_run_id: str | None, reported: agent_pb.NodeState,
                    status_before: NodeStatus) -> str:
    """The event for a standalone or primary redis node whose process changed unasked (it died
    and was started again: by the coordinator, since its agent never restarts a primary blindly),
    saying what came back and, when its host says so, which acknowledged writes that lacks. The
    change is seen in the run id of what the new process loaded, which its host reports once it
    serves. A planned start (creation, reboot, patch, recovery) has its own events. A process
    this coordinator never saw before (it restarted too: the whole fleet did) is said only when
    it lacks writes, so that nothing serves data older than it had acknowledged unsaid; the
    reconciler says that once, whichever coordinator sees it."""
    if not reported.HasField("loaded") or reported.loaded.run_id == seen_run_id:
        return ""
    if status_before not in UNPLANNED_RESTART_STATUSES:
        return ""
    loss = node_loss(reported.start_data) if reported.HasField("start_data") else ""
    if seen_run_id is None and not loss:
        return ""
    loaded, where = reported.loaded, f"on host {node.host_id}"
    if loaded.aof:
        return (f"Cache node {node.node_id} restarted {where} and reloaded its data from its append-only file "
                f"({keys(loaded.keys)})") + loss
    if loaded.keys == 0:
        return f"Cache node {node.node_id} restarted empty {where}: its data was not persisted (appendonly is no)" + loss
    return (f"Cache node {node.node_id} restarted {where} with {keys(loaded.keys)} from its last RDB file "
            f"(appendonly is no: writes since that file was saved are lost)") + loss


# -- the maintenance window ------------------------------------------------------------------------

@dataclass(frozen=True)
class RebootForParameters:
    """Requires-reboot parameters wait for these nodes, and the window has come."""
    cluster_id: str
    node_ids: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "requires-reboot parameters wait for the maintenance window"

    @property
    def sentence(self) -> str:
        return f"{self.cluster_id}: maintenance reboot of {', '.join(self.node_ids)}"

    @property
    def events(self) -> tuple[str, ...]:
        return ("Maintenance started: rebooting cache nodes " + ", ".join(self.node_ids)
                + " to apply requires-reboot parameters",)


@dataclass(frozen=True)
class ApplyPending:
    """Apply the cluster's pending changes; with `minor_upgrade`, first record that newer
    minor version as the pending change (AutoMinorVersionUpgrade)."""
    cluster_id: str
    minor_upgrade: str = ""

    @property
    def reason(self) -> str:
        if self.minor_upgrade:
            return f"minor version {self.minor_upgrade} is installed on every host of the cluster"
        return "pending changes wait for the maintenance window"

    @property
    def sentence(self) -> str:
        return f"{self.cluster_id}: maintenance started"

    @property
    def events(self) -> tuple[str, ...]:
        return ()       # known once the change is applied (Reconciler._maintain)


WindowAction = RebootForParameters | ApplyPending | NoAction


def in_window(cluster: Cluster, now: float) -> bool:
    return cluster.status == ClusterStatus.AVAILABLE and bool(cluster.maintenance_window) \
        and maintenance.parse(cluster.maintenance_window).contains(now)


def decide_window(cluster: Cluster, now: float, protected: bool,
                  parameter_status: Callable[[], tuple[str, Sequence[str]]],
                  fleet_versions: set[str]) -> WindowAction:
    """What the maintenance window applies now. Nodes waiting for a reboot come first (not on a
    primary with replicas: that would empty it). A group member's version and type follow its
    group's window; a standalone cluster applies its pending changes, or with
    AutoMinorVersionUpgrade the newest minor version its hosts all have."""
    if not in_window(cluster, now):
        return NoAction("outside the maintenance window")
    if not protected:
        state, reboot = parameter_status()
        if state == "pending-reboot" and reboot:
            return RebootForParameters(cluster.cluster_id, tuple(reboot))
    if cluster.replication_group_id:
        return NoAction("a replication group member: the group's window applies its changes")
    if cluster.pending:
        return ApplyPending(cluster.cluster_id)
    if cluster.auto_minor_version_upgrade:
        target = minor_upgrade(cluster.engine, cluster.engine_version, fleet_versions)
        if target:
            return ApplyPending(cluster.cluster_id, target)
    return NoAction("nothing is pending")
