"""Replication group decisions as functions of what is observed: failover, planned switch,
rolling patch, node-type moves, maintenance window, settling.

Each function takes a `GroupView` (the group record, its member clusters, what each
member's host last reported, which hosts are live) and the clock, and returns an action;
`GroupReconciler` carries the action out (store writes, events). Nothing here awaits,
writes or reads a clock of its own, so every rule is tested in-process in milliseconds.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain import maintenance
from coordinator.domain.changes import minor_upgrade
from coordinator.domain.model import (Cluster, ClusterStatus, GroupStatus, Node, NodeStatus, PendingChanges,
                                     ReplicationGroup)
from coordinator.reconcile.actions import NoAction, OneEvent, Wait

SWITCH_TIMEOUT_SECONDS = 15.0
FENCE_SETTLE_SECONDS = 0.45       # two probe periods: the fenced primary's offset is final by then
FRESH_OFFSETS_SECONDS = 1.0       # how long a failover waits for replicas to report the broken link
# A primary cut off from its replicas refuses writes by itself (min-replicas-to-write 1,
# min-replicas-max-lag 1) within this long of when they last reached it: redis counts a
# replica's lag in whole seconds from its last acknowledgement (sent once a second) and
# counts good replicas again once a second.
GUARD_SECONDS = 3.5
# A primary whose replicas all lose it while its host stays live (a cut between them) refuses
# writes for want of their acknowledgements; once none has reached it for this long, the side
# the coordinator and the replicas are on takes over.
CUT_OFF_SECONDS = GUARD_SECONDS
DEAD_STATUSES = (agent_pb.NODE_STATUS_STOPPED, agent_pb.NODE_STATUS_FAILED)


@dataclass(frozen=True)
class GroupView:
    """One replication group as the cycle sees it."""
    group: ReplicationGroup
    clusters: Mapping[str, Cluster]
    reports: Mapping[str, agent_pb.NodeState | None] = field(default_factory=dict)   # member -> last report
    live_hosts: frozenset[str] = frozenset()

    def report(self, member: str) -> agent_pb.NodeState | None:
        """What the member's host last said of its node (None: unknown, or its host is lost)."""
        return self.reports.get(member)

    def node(self, member: str) -> Node | None:
        cluster = self.clusters.get(member)
        return next(iter(cluster.nodes.values()), None) if cluster is not None else None

    def is_live(self, host_id: str | None) -> bool:
        return host_id is not None and host_id in self.live_hosts


# -- actions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Promote:
    """Fail over: the replica `member` becomes primary in place of the dead (or cut off) `old`."""
    group_id: str
    member: str
    old: str
    reason: str
    cut_off: bool = False       # old still serves, but none of its replicas has reached it

    @property
    def sentence(self) -> str:
        cause = "was cut off from its replicas" if self.cut_off else "failed"
        return f"{self.group_id}: promoted {self.member} after primary {self.old} {cause}"

    @property
    def events(self) -> tuple[str, ...]:
        completed = f"Failover from primary node {self.old}-0001 to replica node {self.member}-0001 completed"
        if self.cut_off:
            completed += (f" (no replica had reached {self.old}-0001 for {CUT_OFF_SECONDS:g} s: it refused "
                          "writes, guarded by replicas it could not reach)")
        return (completed, f"Recovering cache nodes {self.old}-0001")


@dataclass(frozen=True)
class FenceCutOff:
    """Fence a primary that still serves but that none of its replicas reaches (its agent
    answers the coordinator) before a replica is promoted: the guard should have it refusing
    writes already, and the fence makes sure, whatever the replicas' links still carry."""
    group_id: str
    old: str

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: fencing primary {self.old}, cut off from its replicas, before a failover"


@dataclass(frozen=True)
class HoldReplicas(OneEvent):
    """The primary died with automatic failover off: keep every member read-only."""
    group_id: str
    old: str
    reason: str = "automatic failover is disabled"

    @property
    def message(self) -> str:
        return (f"Primary node {self.old}-0001 failed; automatic failover is disabled, so the "
                f"replicas are detached and kept read-only with their data (never to follow "
                f"a primary that comes back empty) until a new primary is chosen")


@dataclass(frozen=True)
class NoCandidate(OneEvent):
    """The primary died and no replica can be promoted: said once, then waited out."""
    group_id: str
    old: str
    reason: str = "no replica is reachable and serving"

    @property
    def message(self) -> str:
        return f"Primary node {self.old}-0001 failed and no replica can be reached to promote"


@dataclass(frozen=True)
class Switch:
    """A planned switch completes: the caught-up replica `target` becomes primary."""
    group_id: str
    old: str
    target: str
    offset: int

    @property
    def reason(self) -> str:
        return f"{self.target} caught up with the fenced primary at offset {self.offset}"

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: switched primary {self.old} -> {self.target}"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Failover from primary node {self.old}-0001 to replica node {self.target}-0001 completed "
                f"(planned; replica caught up at offset {self.offset})",)


@dataclass(frozen=True)
class AbortSwitch:
    group_id: str
    target: str
    primary: str
    why: str

    @property
    def reason(self) -> str:
        return self.why

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: switch aborted"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Planned switch to {self.target} aborted: {self.why}; {self.primary} stays primary",)


@dataclass(frozen=True)
class HandOver:
    """Start a planned switch away from the primary, so that it can be changed as a replica."""
    group_id: str
    target: str
    primary: str
    why: str          # "upgrade" | "move"

    @property
    def reason(self) -> str:
        return f"only the primary is left to {self.why}"

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: switching to {self.target} to {self.why} {self.primary}"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Switching the primary to {self.target} to {self.why} {self.primary}",)


@dataclass(frozen=True)
class Upgrade:
    """One step of a rolling patch: `member` restarts on the group's version."""
    group_id: str
    member: str
    version: str
    reason: str

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: upgrading {self.member}"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Upgrading {self.member} to redis {self.version}",)


@dataclass(frozen=True)
class Move:
    """One step of a scale that needs other hosts: `member` gets a new node on `host_id`."""
    group_id: str
    member: str
    host_id: str
    node_type: str

    @property
    def reason(self) -> str:
        return f"its host lacks the memory of a {self.node_type} node"

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: moving {self.member} to {self.host_id}"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"Moving {self.member} to host {self.host_id} for the memory of a {self.node_type} node",)


@dataclass(frozen=True)
class StartMaintenance:
    """The group's window has come: apply its pending changes."""
    group_id: str
    pending: PendingChanges
    reason: str

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: maintenance started"

    @property
    def events(self) -> tuple[str, ...]:
        return ()       # what starts is known once the scaling check ran (GroupReconciler)


@dataclass(frozen=True)
class Settle:
    """Every member serves on the group's version and type: the group is available."""
    group_id: str
    done: str

    @property
    def reason(self) -> str:
        return "every member is available"

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: {self.done}"

    @property
    def events(self) -> tuple[str, ...]:
        return (self.done,)


FailoverAction = Promote | FenceCutOff | HoldReplicas | NoCandidate | Wait | NoAction
SwitchAction = Switch | AbortSwitch | Wait
PatchAction = Upgrade | HandOver | Wait
MoveAction = Move | HandOver | Wait


# -- failover ----------------------------------------------------------------------------------

def primary_down(view: GroupView) -> bool:
    """The data plane says the primary is gone: its engine reported stopped or failed by its
    own agent, or, when its host has gone quiet, none of its replicas reaches its engine any
    more. An agent that is frozen, restarting or cut off from the coordinator while its
    engine still serves its replicas is no reason to fail over."""
    node = view.node(view.group.primary)
    if node is None or node.status == NodeStatus.CREATING:
        return False
    if view.is_live(node.host_id):
        report = view.report(view.group.primary)
        return report is not None and (report.status in DEAD_STATUSES or cut_off(view))
    sightings = replica_sightings(view)
    return bool(sightings) and not any(sight == agent_pb.PRIMARY_SIGHT_SEEN for sight, _ in sightings.values())


def cut_off(view: GroupView) -> bool:
    """The primary serves and its host is live, but it runs guarded (it takes writes only while
    a replica acknowledges them) and for CUT_OFF_SECONDS not one replica on a live host has
    reached its engine: it refuses every write, and will for as long as the cut lasts. A primary
    that runs unguarded (no healthy replica) takes writes, so losing sight of replicas that were
    never linked to it (an old primary just demoted behind the cut) is no reason to fail over."""
    report = view.report(view.group.primary)
    if report is None or report.status in DEAD_STATUSES or not report.spec.write_guard:
        return False
    sightings = replica_sightings(view)
    return bool(sightings) and all(sight != agent_pb.PRIMARY_SIGHT_SEEN and unseen_ms >= CUT_OFF_SECONDS * 1000
                                   for sight, unseen_ms in sightings.values())


def replica_sightings(view: GroupView) -> dict[str, tuple[int, int]]:
    """member -> (PrimarySight, ms unseen) for the replicas on live hosts that report following
    the primary. An agent that does not probe the primary reports its engine's link instead."""
    sightings: dict[str, tuple[int, int]] = {}
    for member in view.group.replicas:
        node, report = view.node(member), view.report(member)
        if node is None or not view.is_live(node.host_id) or report is None \
                or report.spec.role != agent_pb.ROLE_REPLICA:
            continue
        info = report.replication
        sight = info.primary_sight
        if sight == agent_pb.PRIMARY_SIGHT_UNSPECIFIED:
            sight = agent_pb.PRIMARY_SIGHT_SEEN if info.link_status == agent_pb.LINK_STATE_UP \
                else agent_pb.PRIMARY_SIGHT_SILENT
        sightings[member] = (sight, info.primary_unseen_ms)
    return sightings


def guard_wait(view: GroupView, down_since: float, now: float) -> float:
    """Seconds still to wait before a primary whose host went quiet surely refuses writes.

    Its agent fenced it when its lease ran out (the host is lost only later), unless that
    agent is frozen or dead: then the engine's own guard (min-replicas-to-write 1) fences it
    GUARD_SECONDS after its replicas last reached it. A refused connection says the engine
    is gone, so there is nothing to wait for.
    """
    sightings = replica_sightings(view)
    if any(sight == agent_pb.PRIMARY_SIGHT_REFUSED for sight, _ in sightings.values()):
        return 0.0
    reported = [ms / 1000 for _, ms in sightings.values() if ms >= 0]
    unseen = max(min(reported, default=0.0), now - down_since)
    return max(0.0, GUARD_SECONDS - unseen)


def best_replica(view: GroupView) -> str | None:
    """The reachable, serving replica with the highest replication offset (ties: the first
    member id), or None."""
    candidates = []
    for member in view.group.replicas:
        node, report = view.node(member), view.report(member)
        if node is None or not view.is_live(node.host_id):
            continue                  # a lost host's last report is stale
        if report is None or report.status != agent_pb.NODE_STATUS_AVAILABLE or report.replication.sync_in_progress:
            continue
        candidates.append((-report.replication.offset, member))
    return min(candidates)[1] if candidates else None


def still_following(view: GroupView) -> list[str]:
    """Replicas that still report their link to the primary up: probed before it died."""
    following = []
    for member in view.group.replicas:
        report = view.report(member)
        if report is not None and report.spec.role == agent_pb.ROLE_REPLICA and report.replication.link_status == agent_pb.LINK_STATE_UP:
            following.append(member)
    return following


def decide_failover(view: GroupView, down_since: float | None, now: float) -> tuple[FailoverAction, float | None]:
    """What to do about a dead primary; also when it was first seen dead (monotonic `now`),
    which the reconciler keeps for the next cycle.

    A replica whose link still shows up was probed before the death, so its offset may be
    stale and the choice wrong: wait for the broken link at most FRESH_OFFSETS_SECONDS. A
    primary whose host went quiet may still take writes until its engine's guard fences it:
    wait for that (guard_wait) before anyone else takes writes.
    """
    group = view.group
    old = group.primary
    if not group.replicas:
        return NoAction("no replica follows the primary: it is simply restarted"), down_since
    if not group.automatic_failover:
        if group.primary_failed:
            return NoAction("automatic failover is disabled and the replicas are already held"), down_since
        return HoldReplicas(group.group_id, old), down_since
    node = view.node(old)
    down_since = now if down_since is None else down_since
    severed = node is not None and view.is_live(node.host_id) and cut_off(view)
    if severed:
        report = view.report(old)
        if report is not None and not report.fenced:
            return FenceCutOff(group.group_id, old), down_since
    if node is None or not view.is_live(node.host_id) or severed:
        # (a cut-off primary's replicas may still show their links up: redis notices a silent
        # primary only after repl-timeout; their offsets are final all the same)
        wait = guard_wait(view, down_since, now)
        if wait > 0:
            return Wait(f"{old} may take writes until its own guard fences it in {wait:.1f} s"), down_since
    else:
        following = still_following(view)
        if following and now - down_since <= FRESH_OFFSETS_SECONDS:
            return Wait(f"replica {following[0]} still reports its link to {old} up"), down_since
    target = best_replica(view)
    if target is None:
        return NoCandidate(group.group_id, old), down_since
    report = view.report(target)
    offset = report.replication.offset if report is not None else 0
    return Promote(group.group_id, target, old, f"highest replication offset ({offset}) of the serving replicas",
                   severed), None


# -- planned switch (ModifyReplicationGroup --primary-cluster-id, TestFailover) --------------------

def decide_switch(view: GroupView, now: float, fenced_seen: float | None,
                  monotonic: float) -> tuple[SwitchAction, float | None]:
    """One step of a planned switch to `group.switch_to`: the old primary is write-fenced,
    its offset settles, then the target takes over once it has caught up. `now` is wall time
    (the switch's start is), `monotonic` the clock `fenced_seen` is on; returns the action
    and when the old primary was first seen fenced."""
    group = view.group
    old, target = group.primary, group.switch_to
    if now - group.switch_started > SWITCH_TIMEOUT_SECONDS:
        return AbortSwitch(group.group_id, target, old, "the replica did not catch up in time"), None
    old_report, target_report = view.report(old), view.report(target)
    if old_report is None or target_report is None:
        return Wait("the old primary or the target has not reported"), fenced_seen
    if not old_report.fenced:
        return Wait(f"{old} is not yet write-fenced"), fenced_seen
    seen = monotonic if fenced_seen is None else fenced_seen
    if monotonic - seen < FENCE_SETTLE_SECONDS:
        return Wait(f"{old}'s offset may still move"), seen
    if target_report.replication.link_status != agent_pb.LINK_STATE_UP:
        return Wait(f"{target} is not linked to {old}"), seen
    if target_report.replication.offset < old_report.replication.offset:
        return Wait(f"{target} is behind {old}"), seen
    return Switch(group.group_id, old, target, target_report.replication.offset), None


# -- rolling patch and node-type moves -----------------------------------------------------------

def behind_version(group: ReplicationGroup, clusters: Mapping[str, Cluster]) -> list[str]:
    return [m for m in group.members if m in clusters and clusters[m].engine_version != group.engine_version]


def moving(group: ReplicationGroup, clusters: Mapping[str, Cluster]) -> list[str]:
    return [m for m in group.members if m in clusters and clusters[m].move]


def decide_hand_over(view: GroupView, why: str) -> HandOver | Wait:
    """Hand the primary's role to the best replica, once every replica serves."""
    group, clusters = view.group, view.clusters
    target = best_replica(view)
    if target is None:
        return Wait("no replica can take the primary's role")
    if any(clusters[m].status != ClusterStatus.AVAILABLE for m in group.replicas
           if m in clusters and not clusters[m].move):
        return Wait("a replica is not available")
    return HandOver(group.group_id, target, group.primary, why)


def decide_patch(view: GroupView) -> PatchAction:
    """One step of a rolling upgrade: replicas one at a time, then a planned switch to an
    upgraded replica (no acknowledged write lost), then the old primary, now a replica.
    A member is moved only when every other member serves."""
    group, clusters = view.group, view.clusters
    replicas_behind = [m for m in behind_version(group, clusters) if m != group.primary]
    if not replicas_behind and group.replicas:
        return decide_hand_over(view, "upgrade")
    candidate = replicas_behind[0] if replicas_behind else group.primary
    busy = [m for m in group.members if m != candidate and m in clusters
            and clusters[m].status != ClusterStatus.AVAILABLE]
    if busy:
        return Wait(f"{busy[0]} is not available")
    role = "replica" if candidate != group.primary else "primary"
    return Upgrade(group.group_id, candidate, group.engine_version, f"the next {role} behind the group's version")


def decide_move(view: GroupView) -> MoveAction:
    """One step of a scale that needs other hosts: a replica at a time, the primary's role
    handed over first when only it is left."""
    group, clusters = view.group, view.clusters
    replicas = [m for m in moving(group, clusters) if m != group.primary]
    if not replicas:
        return decide_hand_over(view, "move")
    candidate = replicas[0]
    busy = [m for m in group.members if m != candidate and m in clusters and not clusters[m].move
            and clusters[m].status != ClusterStatus.AVAILABLE]
    if busy:
        return Wait(f"{busy[0]} is not available")
    return Move(group.group_id, candidate, (move.host_id if (move := clusters[candidate].move) else ""), group.node_type)


# -- maintenance window and status ---------------------------------------------------------------

def decide_group_maintenance(group: ReplicationGroup, now: float,
                             fleet_versions: set[str]) -> StartMaintenance | NoAction:
    """Inside the group's window, its pending changes are applied; with
    AutoMinorVersionUpgrade, a newer minor version installed on every member's host is one."""
    if group.status != GroupStatus.AVAILABLE or not group.maintenance_window:
        return NoAction("no maintenance window applies")
    if not maintenance.parse(group.maintenance_window).contains(now):
        return NoAction("outside the maintenance window")
    pending = dataclasses.replace(group.pending)
    reason = "pending changes wait for the window"
    if not pending and group.auto_minor_version_upgrade:
        target = minor_upgrade("redis", group.engine_version, fleet_versions)
        if target:
            pending, reason = PendingChanges(engine_version=target), f"minor version {target} is installed"
    if not pending:
        return NoAction("nothing is pending")
    return StartMaintenance(group.group_id, pending, reason)


def decide_settle(group: ReplicationGroup, clusters: Mapping[str, Cluster],
                  reports: Mapping[str, agent_pb.NodeState | None] | None = None) -> Settle | NoAction:
    """A creating or modifying group becomes available once every member serves its version
    and type, and its primary counts as online every replica that shows its link up: a replica
    says so a moment before its primary counts it (the primary first reaps the child that
    streamed its copy), and a primary running the write guard refuses writes until it does."""
    if group.status == GroupStatus.AVAILABLE:
        return NoAction("the group is available")
    members = [clusters.get(m) for m in group.members]
    if any(c is None or c.status != ClusterStatus.AVAILABLE for c in members) \
            or behind_version(group, clusters) or moving(group, clusters):
        return NoAction("a member is not yet available")
    reports = reports or {}
    primary = reports.get(group.primary)
    if primary is not None and primary.replication.HasField("online_replicas"):
        linked = sum(1 for m in group.replicas if (r := reports.get(m)) is not None
                     and r.replication.link_status == agent_pb.LINK_STATE_UP)
        if primary.replication.online_replicas < linked:
            return NoAction("the primary does not yet count every linked replica")
    done = "Replication group created" if group.status == GroupStatus.CREATING else "Replication group modified"
    if group.maintenance_running:
        done += "; maintenance finished"
    return Settle(group.group_id, done)
