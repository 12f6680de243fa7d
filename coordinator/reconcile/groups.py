"""Replication groups carried out: failover, planned switches, group status, replication events.

Runs at the start of every reconciler cycle, before the per-node work, because a
primary that died must be replaced by a promotion before anything may restart or
re-create it: a primary that comes back empty would be followed by its replicas
and wipe them. A group whose every member stopped comes back from its freshest copy
instead (decide_restart). Only the group record says who is primary; a promotion is one
transaction on it (and the member records), and the per-node pass then hands the
new roles to the agents. What to do is decided in decide_groups and decide_restart;
this module does it.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection
from typing import Any

import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.changes import check_scaling, scale_group, start_group_upgrade
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.domain.errors import ApiError, group_not_found
from coordinator.domain.placement import host_views
from coordinator.domain.replication_link import link_status
from coordinator.state.events import EventLog
from coordinator.domain.model import (Cluster, ClusterStatus, GroupStatus, NodeMove, NodeStatus, PendingChanges,
                                     ReplicationGroup)
from coordinator.reconcile.timeslice import TimeSlice
from coordinator.reconcile.decide_groups import (
    AbortSwitch, GroupView, HandOver, HoldReplicas, Move, MoveAction, NoCandidate, PatchAction, Promote, Settle,
    StartMaintenance, Switch, Upgrade, behind_version, best_replica, decide_failover, decide_group_maintenance,
    decide_move, decide_patch, decide_settle, decide_switch, moving, primary_down, FenceCutOff)
from coordinator.reconcile.decide_restart import NoCopy, RestartGroup, decide_restart, every_member_stopped
from coordinator.state.registry import HostRegistry

log = structlog.get_logger("groups")

LAG_WARNING_BYTES = 1 << 20


class GroupReconciler:
    def __init__(self, groups: GroupRepo, repo: ClusterRepo, registry: HostRegistry, events: EventLog,
                 clock: Callable[[], float] = time.time,
                 on_demote: Callable[[str], None] = lambda node_key: None, slice: TimeSlice | None = None):
        self.groups = groups
        self.slice = slice or TimeSlice()   # shared with the cycle's turns
        self.repo = repo
        self.registry = registry
        self.events = events
        self.clock = clock
        self._fenced_seen: dict[str, float] = {}          # group -> when the old primary was seen fenced
        self._said: set[str] = set()                      # one-time warnings already recorded
        self._link: dict[str, agent_pb.LinkState] = {}   # member -> last link status
        self._full_syncs: dict[str, int] = {}             # primary member -> last sync_full
        self._behind: set[str] = set()
        self._down_since: dict[str, float] = {}            # group -> when its primary was seen dead
        self.withheld: set[str] = set()                    # groups whose cut-off primary is fenced first
        self._stopped_since: dict[str, float] = {}         # group -> when every member was seen stopped
        # group -> its primary, which may be started again: every member had stopped and its
        # data is the freshest (the per-node pass starts it; nothing else starts a dead primary)
        self.restarting: dict[str, str] = {}
        self.on_demote = on_demote                          # told of a primary's node key as it steps down
        # failovers of the last run: the reconciler hands the new primaries their role (and moves
        # the primary endpoint names) before anything else in its cycle, then records their events
        self.promoted: list[Promote] = []

    def node_report(self, cluster: Cluster | None) -> agent_pb.NodeState | None:
        """What the member's host last said about its node (None: unknown or host lost)."""
        if cluster is None or not cluster.nodes:
            return None
        node = next(iter(cluster.nodes.values()))
        if node.host_id is None or not self.registry.has_reported(node.host_id):
            return None
        return self.registry.hosts[node.host_id].nodes.get(cluster.node_key(node.node_id))

    async def run(self, groups: list[ReplicationGroup], clusters: dict[str, Cluster],
                  changed_nodes: Collection[str] = ()) -> list[str]:
        """Each group's turn; first those with a member whose report changed (changed_nodes: node
        keys), so that a failover is decided before a thousand settled groups are looked at."""
        def reported_change(group: ReplicationGroup) -> bool:
            return any(clusters[m].node_key(n) in changed_nodes for m in group.members if m in clusters
                       for n in clusters[m].nodes)
        actions: list[str] = []
        first = {g.group_id for g in groups if reported_change(g)} if changed_nodes else set()
        for group in [g for g in groups if g.group_id in first] + [g for g in groups if g.group_id not in first]:
            try:
                actions += await self._reconcile(group, clusters)
            except Exception:  # one group's trouble must not stop the others
                log.exception("group reconcile failed", group_id=group.group_id)
            await self.slice.step_aside()   # a settled group never waits: heartbeats come in between
        return actions

    def view(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> GroupView:
        """The group as its decisions see it: records, each member's last report, live hosts."""
        reports = {m: self.node_report(clusters.get(m)) for m in group.members}
        homes = {n.host_id for m in group.members if m in clusters for n in clusters[m].nodes.values()}
        live = frozenset(h for h in homes if h is not None and self.registry.is_live(h))   # of its members' hosts
        return GroupView(group, clusters, reports, live)

    async def _reconcile(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        if group.status == GroupStatus.DELETING:
            return await self._finish_delete(group, clusters)
        if group.status == GroupStatus.CREATE_FAILED:
            return []
        if any(c is not None and c.status == ClusterStatus.RESTORE_FAILED for c in map(clusters.get, group.members)):
            return await self._create_failed(group)
        view = self.view(group, clusters)
        if every_member_stopped(view):
            return await self._restart(view)
        self._stopped_since.pop(group.group_id, None)
        self.restarting.pop(group.group_id, None)
        if group.primary_failed or primary_down(view):
            return await self._fail_over(view)
        self.withheld.discard(group.group_id)      # the cut healed before a failover: it writes again
        self._said.discard(f"{group.group_id}/down")
        if group.switch_to:
            return await self._planned_switch(view)
        window = decide_group_maintenance(group, self.clock(), self._fleet_versions(group, clusters))
        if isinstance(window, StartMaintenance):
            return await self._start_maintenance(group, window.pending)
        if group.status == GroupStatus.MODIFYING and moving(group, clusters):
            return await self._carry_out(decide_move(view))
        if group.status == GroupStatus.MODIFYING and behind_version(group, clusters):
            return await self._carry_out(decide_patch(view))
        actions = await self._replication_events(group, clusters)
        return actions + await self._settle(group, clusters)

    async def _carry_out(self, action: PatchAction | MoveAction) -> list[str]:
        if isinstance(action, HandOver):
            return await self._hand_over_primary(action)
        if isinstance(action, Upgrade):
            return await self._upgrade(action)
        if isinstance(action, Move):
            return await self._move(action)
        return []

    async def _create_failed(self, group: ReplicationGroup) -> list[str]:
        """The primary's snapshot was refused: nothing to fail over to, the group waits for deletion."""
        def fail(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.status != GroupStatus.CREATING:
                return False
            g.status = GroupStatus.CREATE_FAILED
            return True
        await self.groups.change(group.group_id, fail, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 "Replication group creation failed: its primary could not be restored")
        return [f"{group.group_id}: create-failed"]

    # -- deletion --------------------------------------------------------------------------------

    async def _finish_delete(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        remaining = [m for m in group.members if m in clusters and clusters[m].replication_group_id == group.group_id]
        if remaining:
            return []
        await self.groups.delete(group.group_id)
        await self.events.record("replication-group", group.group_id, "Replication group deleted")
        return [f"deleted replication group {group.group_id}"]

    # -- failover ---------------------------------------------------------------------------------

    def best_replica(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> str | None:
        """The reachable, serving replica with the highest replication offset."""
        return best_replica(self.view(group, clusters))

    async def _fail_over(self, view: GroupView) -> list[str]:
        group = view.group
        old = group.primary
        now = time.monotonic()
        first_seen = self._down_since.get(group.group_id, now)
        action, down_since = decide_failover(view, self._down_since.get(group.group_id), now)
        if down_since is None:
            self._down_since.pop(group.group_id, None)
        else:
            self._down_since[group.group_id] = down_since
        if isinstance(action, HoldReplicas):
            def hold(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
                if g.primary != old or g.primary_failed or g.automatic_failover:
                    return False
                g.primary_failed = True
                return True
            self.on_demote(f"{old}-0001")
            await self.groups.change(group.group_id, hold, group_not_found)
            return await self._say_once(f"{group.group_id}/down", group.group_id, action.message)
        if isinstance(action, NoCandidate):
            return await self._say_once(f"{group.group_id}/down", group.group_id, action.message)
        if isinstance(action, FenceCutOff):
            self.on_demote(f"{old}-0001")          # out of the writable list now; fenced by its spec next
            if group.group_id in self.withheld:
                return []
            self.withheld.add(group.group_id)
            return [action.sentence]
        if not isinstance(action, Promote):
            return []
        self.withheld.discard(group.group_id)
        log.info("failover ordered", group_id=group.group_id, old=old, new=action.member, reason=action.reason,
                 waited_ms=round((now - first_seen) * 1000, 1))
        await self._promote(group.group_id, old, action.member)
        self.promoted.append(action)      # its events follow the hand-over (promoted_events)
        return [action.sentence]

    async def promoted_events(self) -> None:
        """Record the last run's failovers: "completed" once the reconciler handed the new
        primaries their role."""
        done, self.promoted = self.promoted, []
        for action in done:
            await self._record(action.group_id, action.events)

    async def _promote(self, group_id: str, old: str, target: str) -> None:
        """`target` becomes primary in place of `old`, whose node recovers as a replica."""
        self.on_demote(f"{old}-0001")

        def promote(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.primary != old or target not in g.members:
                return False
            g.primary, g.switch_to, g.epoch, g.primary_failed = target, "", g.epoch + 1, False
            old_cluster = members.get(old)
            if old_cluster is not None:
                for node in old_cluster.nodes.values():
                    node.status = NodeStatus.RECOVERING
            return True
        await self.groups.change(group_id, promote, group_not_found)

    # -- every member stopped ----------------------------------------------------------------------

    async def _restart(self, view: GroupView) -> list[str]:
        """Come back from the freshest copy: start the primary again when it is that copy,
        else promote the member that is (it runs already, as a replica of the stopped primary)."""
        group = view.group
        action, since = decide_restart(view, self._stopped_since.get(group.group_id), time.monotonic(),
                                       int(time.time() * 1000))   # the hosts' clock, not the coordinator's
        if since is None:
            self._stopped_since.pop(group.group_id, None)
        else:
            self._stopped_since[group.group_id] = since
        if isinstance(action, NoCopy):
            return await self._say_once(f"{group.group_id}/no-copy", group.group_id, action.message)
        if not isinstance(action, RestartGroup):
            return []
        if action.member == group.primary:
            if self.restarting.get(group.group_id) == action.member:
                return []           # decided before; the per-node pass is starting it
            self.restarting[group.group_id] = action.member
        else:
            await self._promote(group.group_id, group.primary, action.member)
        log.warning("every member of the group had stopped", group_id=group.group_id, member=action.member,
                    reason=action.reason, lost_seconds=action.lost_seconds)
        await self._record(group.group_id, action.events)
        return [action.sentence]

    # -- planned switch (ModifyReplicationGroup --primary-cluster-id, TestFailover) -----------------

    async def _planned_switch(self, view: GroupView) -> list[str]:
        group = view.group
        action, fenced_seen = decide_switch(view, self.clock(), self._fenced_seen.get(group.group_id),
                                            time.monotonic())
        if fenced_seen is None:
            self._fenced_seen.pop(group.group_id, None)
        else:
            self._fenced_seen[group.group_id] = fenced_seen
        if isinstance(action, AbortSwitch):
            return await self._abort_switch(action)
        if not isinstance(action, Switch):
            return []
        old, target = action.old, action.target
        self.on_demote(f"{old}-0001")

        def switch(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to != target or g.primary != old:
                return False
            g.primary, g.switch_to, g.epoch = target, "", g.epoch + 1
            return True
        await self.groups.change(group.group_id, switch, group_not_found)
        await self._record(group.group_id, action.events)
        return [action.sentence]

    async def _abort_switch(self, action: AbortSwitch) -> list[str]:
        target = action.target

        def abort(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to != target:
                return False
            g.switch_to = ""
            return True
        await self.groups.change(action.group_id, abort, group_not_found)
        await self._record(action.group_id, action.events)
        return [action.sentence]

    # -- engine upgrades (ModifyReplicationGroup --engine-version, maintenance windows) ---------

    def _fleet_versions(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> set[str]:
        """Redis versions installed on every live host of the group's members."""
        sets = [self.registry.hosts[n.host_id].engine_versions("redis") for m in group.members if m in clusters
                for n in clusters[m].nodes.values() if n.host_id is not None and self.registry.is_live(n.host_id)]
        return set.intersection(*sets) if sets else set()

    async def _start_maintenance(self, group: ReplicationGroup, pending: PendingChanges) -> list[str]:
        version = pending.engine_version
        node_type = pending.cache_node_type
        moves: dict[str, NodeMove] = {}
        if node_type:
            clusters = await self.repo.all()
            views = host_views(self.registry.live(), [c for c in clusters if c.cluster_id not in group.members])
            try:
                node_type, moves = check_scaling("redis", group.node_type, node_type,
                                                 [c for c in clusters if c.cluster_id in group.members], views,
                                                 movable=bool(group.replicas))
            except ApiError as exc:
                await self.events.record("replication-group", group.group_id,
                                         f"Maintenance could not scale to {node_type}: {exc}")
                node_type = ""

        def start(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.status != GroupStatus.AVAILABLE:
                return False
            if node_type and node_type != g.node_type:
                scale_group(g, members, node_type, moves)
                g.maintenance_running = True
            if version and version != g.engine_version:
                start_group_upgrade(g, version)
                g.maintenance_running = True
            g.pending = PendingChanges()
            return True
        await self.groups.change(group.group_id, start, group_not_found)
        work = [w for w in (f"scaling to {node_type}" if node_type else "",
                            f"upgrading to redis {version}" if version else "") if w]
        if work:
            await self.events.record("replication-group", group.group_id, "Maintenance started: " + "; ".join(work))
        return [f"{group.group_id}: maintenance started"]

    async def _move(self, action: Move) -> list[str]:
        """A replica gets a new node of the new type on its target host (it syncs from the
        primary; the old engine is then an orphan and removed), under the same name."""
        candidate = action.member
        target: dict[str, Any] = {}

        def move(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            member = members.get(candidate)
            if member is None or not member.move:
                return False
            target.update(member.move.to_dict())
            for node in member.live_nodes:
                node.moved_from = node.host_id or ""     # its old engine goes once this one is in sync
                node.host_id, node.zone, node.address = target["host_id"], target["zone"], target["address"]
                node.status = NodeStatus.MODIFYING
            member.move = None
            return True
        await self.groups.change(action.group_id, move, group_not_found)
        if not target:
            return []
        done = dataclasses.replace(action, host_id=str(target["host_id"]))
        await self._record(action.group_id, done.events)
        return [done.sentence]

    async def _hand_over_primary(self, action: HandOver) -> list[str]:
        """Start a planned switch away from the primary so that it can be changed as a replica."""
        target, primary = action.target, action.primary

        def switch(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to or g.primary != primary:
                return False
            g.switch_to, g.switch_started = target, self.clock()
            return True
        await self.groups.change(action.group_id, switch, group_not_found)
        await self._record(action.group_id, action.events)
        return [action.sentence]

    async def _upgrade(self, action: Upgrade) -> list[str]:
        candidate = action.member

        def upgrade(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            member = members.get(candidate)
            if member is None or member.engine_version == g.engine_version:
                return False
            member.engine_version = g.engine_version
            member.status = ClusterStatus.MODIFYING
            for node in member.nodes.values():
                node.engine_version, node.status = "", NodeStatus.MODIFYING
            return True
        await self.groups.change(action.group_id, upgrade, group_not_found)
        await self._record(action.group_id, action.events)
        return [action.sentence]

    async def _record(self, group_id: str, messages: tuple[str, ...]) -> None:
        for message in messages:
            await self.events.record("replication-group", group_id, message)

    # -- status and health -----------------------------------------------------------------------

    async def _settle(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        action = decide_settle(group, clusters, {m: self.node_report(clusters.get(m)) for m in group.members})
        if not isinstance(action, Settle):
            return []

        def settle(g: ReplicationGroup, _members: dict[str, Cluster]) -> bool:
            if g.status == GroupStatus.AVAILABLE or g.status == GroupStatus.DELETING:
                return False
            g.status, g.maintenance_running = GroupStatus.AVAILABLE, False
            return True
        await self.groups.change(group.group_id, settle, group_not_found)
        await self._record(group.group_id, action.events)
        return [action.sentence]

    async def _replication_events(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        """Events for a full resync, a broken link, a replica that falls behind."""
        messages = []
        primary_report = self.node_report(clusters.get(group.primary))
        if primary_report is not None:
            syncs = primary_report.replication.full_syncs
            seen = self._full_syncs.get(group.primary)
            self._full_syncs[group.primary] = syncs
            if seen is not None and syncs > seen:
                messages.append(f"Full synchronization of {syncs - seen} replica(s) from primary node "
                                f"{group.primary}-0001")
        links: dict[str, str] = {}
        for member in group.replicas:
            report = self.node_report(clusters.get(member))
            if report is None or report.spec.role != agent_pb.ROLE_REPLICA:
                continue
            links[member] = link_status(report.replication)
            link = report.replication.link_status
            before = self._link.get(member)
            self._link[member] = link
            if before == agent_pb.LINK_STATE_UP and link != agent_pb.LINK_STATE_UP:
                messages.append(f"Replication link of replica node {member}-0001 to its primary is broken")
            if primary_report is not None and link == agent_pb.LINK_STATE_UP:
                lag = max(0, primary_report.replication.offset - report.replication.offset)
                if lag > LAG_WARNING_BYTES and member not in self._behind:
                    self._behind.add(member)
                    messages.append(f"Replica node {member}-0001 is falling behind its primary by {lag} bytes")
                elif lag <= LAG_WARNING_BYTES // 2:
                    self._behind.discard(member)
        for message in messages:
            await self.events.record("replication-group", group.group_id, message)
        await self._record_links(group, links)
        return [f"{group.group_id}: {m}" for m in messages]

    async def _record_links(self, group: ReplicationGroup, links: dict[str, str]) -> None:
        """Write each replica's link into the group when it changed, for the coordinators that do
        not lead: they have no reports, and their describe shows these."""
        if links == group.links:
            return

        def record(g: ReplicationGroup) -> bool:
            if g.links == links:
                return False
            g.links = links
            return True
        await self.groups.mutate(group.group_id, record)

    async def _say_once(self, key: str, group_id: str, message: str) -> list[str]:
        if key in self._said:
            return []
        self._said.add(key)
        await self.events.record("replication-group", group_id, message)
        return [f"{group_id}: {message}"]
