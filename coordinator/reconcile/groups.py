"""Replication group decisions: failover, planned switches, group status, replication events.

Runs at the start of every reconciler cycle, before the per-node work, because a
primary that died must be replaced by a promotion before anything may restart or
re-create it: a primary that comes back empty would be followed by its replicas
and wipe them. Only the group record says who is primary; a promotion is one
transaction on it (and the member records), and the per-node pass then hands the
new roles to the agents.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain import maintenance
from coordinator.domain.changes import check_scaling, minor_upgrade, scale_group, start_group_upgrade
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.domain.errors import ApiError, group_not_found
from coordinator.domain.placement import host_views
from coordinator.state.events import EventLog
from coordinator.domain.model import (Cluster, ClusterStatus, GroupStatus, NodeMove, NodeStatus, PendingChanges,
                                     ReplicationGroup)
from coordinator.state.registry import HostRegistry

log = structlog.get_logger("groups")

SWITCH_TIMEOUT_SECONDS = 15.0
FENCE_SETTLE_SECONDS = 0.45       # two probe periods: the fenced primary's offset is final by then
LAG_WARNING_BYTES = 1 << 20
FRESH_OFFSETS_SECONDS = 1.0       # how long a failover waits for replicas to report the broken link
DEAD_STATUSES = (agent_pb.NODE_STATUS_STOPPED, agent_pb.NODE_STATUS_FAILED)


class GroupReconciler:
    def __init__(self, groups: GroupRepo, repo: ClusterRepo, registry: HostRegistry, events: EventLog,
                 clock: Callable[[], float] = time.time,
                 on_demote: Callable[[str], None] = lambda node_key: None):
        self.groups = groups
        self.repo = repo
        self.registry = registry
        self.events = events
        self.clock = clock
        self._fenced_seen: dict[str, float] = {}          # group -> when the old primary was seen fenced
        self._said: set[str] = set()                      # one-time warnings already recorded
        self._link: dict[str, agent_pb.LinkState.ValueType] = {}   # member -> last link status
        self._full_syncs: dict[str, int] = {}             # primary member -> last sync_full
        self._behind: set[str] = set()
        self._down_since: dict[str, float] = {}            # group -> when its primary was seen dead
        self.on_demote = on_demote                          # told of a primary's node key as it steps down

    def node_report(self, cluster: Cluster | None) -> agent_pb.NodeState | None:
        """What the member's host last said about its node (None: unknown or host lost)."""
        if cluster is None or not cluster.nodes:
            return None
        node = next(iter(cluster.nodes.values()))
        if not self.registry.has_reported(node.host_id):
            return None
        return self.registry.hosts[node.host_id].nodes.get(cluster.node_key(node.node_id))

    async def run(self, groups: list[ReplicationGroup], clusters: dict[str, Cluster]) -> list[str]:
        actions: list[str] = []
        for group in groups:
            try:
                actions += await self._reconcile(group, clusters)
            except Exception:  # one group's trouble must not stop the others
                log.exception("group reconcile failed", group_id=group.group_id)
        return actions

    async def _reconcile(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        if group.status == GroupStatus.DELETING:
            return await self._finish_delete(group, clusters)
        if group.status == GroupStatus.CREATE_FAILED:
            return []
        if any(c is not None and c.status == ClusterStatus.RESTORE_FAILED for c in map(clusters.get, group.members)):
            return await self._create_failed(group)
        if group.primary_failed or self._primary_down(group, clusters):
            return await self._fail_over(group, clusters)
        self._said.discard(f"{group.group_id}/down")
        if group.switch_to:
            return await self._planned_switch(group, clusters)
        if group.status == GroupStatus.AVAILABLE and group.maintenance_window \
                and maintenance.parse(group.maintenance_window).contains(self.clock()):
            if not group.pending and group.auto_minor_version_upgrade:
                target = minor_upgrade("redis", group.engine_version, self._fleet_versions(group, clusters))
                if target:
                    group.pending = PendingChanges(engine_version=target)
            if group.pending:
                return await self._start_maintenance(group)
        if group.status == GroupStatus.MODIFYING and self._moving(group, clusters):
            return await self._move(group, clusters)
        if group.status == GroupStatus.MODIFYING and self._behind_version(group, clusters):
            return await self._patch(group, clusters)
        actions = await self._replication_events(group, clusters)
        return actions + await self._settle(group, clusters)

    async def _create_failed(self, group: ReplicationGroup) -> list[str]:
        """The primary's snapshot was refused: nothing to fail over to, the group waits for deletion."""
        def fail(g: ReplicationGroup, members) -> bool:
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

    def _primary_down(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> bool:
        primary = clusters.get(group.primary)
        if primary is None or not primary.nodes:
            return False
        node = next(iter(primary.nodes.values()))
        if node.status == NodeStatus.CREATING:
            return False
        if not self.registry.is_live(node.host_id):
            return True                      # host lost: its lease has run out, it fenced itself
        report = self.node_report(primary)
        return report is not None and report.status in DEAD_STATUSES

    def best_replica(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> str | None:
        """The reachable, serving replica with the highest replication offset."""
        candidates = []
        for member in group.replicas:
            report = self.node_report(clusters.get(member))
            if report is None or report.status != agent_pb.NODE_STATUS_AVAILABLE or report.replication.sync_in_progress:
                continue
            candidates.append((-report.replication.offset, member))
        return min(candidates)[1] if candidates else None

    def _replicas_still_following(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> bool:
        """Whether to wait before choosing: a replica that still reports its link up was
        probed before the primary died, so its offset may be stale and the choice wrong.
        Their agents report the broken link at once; wait at most FRESH_OFFSETS_SECONDS.
        (A lost host's primary fenced itself a lease earlier: offsets are final then.)"""
        primary = clusters.get(group.primary)
        node = next(iter(primary.nodes.values()), None) if primary else None
        if node is None or not self.registry.is_live(node.host_id):
            self._down_since.pop(group.group_id, None)
            return False
        since = self._down_since.setdefault(group.group_id, time.monotonic())
        if time.monotonic() - since > FRESH_OFFSETS_SECONDS:
            return False
        for member in group.replicas:
            report = self.node_report(clusters.get(member))
            if report is not None and report.spec.role == agent_pb.ROLE_REPLICA \
                    and report.replication.link_status == agent_pb.LINK_STATE_UP:
                return True
        return False

    async def _fail_over(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        old = group.primary
        if not group.replicas:
            return []                        # nothing follows it: the node is simply restarted
        if not group.automatic_failover:
            if group.primary_failed:
                return []

            def hold(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
                if g.primary != old or g.primary_failed or g.automatic_failover:
                    return False
                g.primary_failed = True
                return True
            self.on_demote(f"{old}-0001")
            await self.groups.change(group.group_id, hold, group_not_found)
            return await self._say_once(f"{group.group_id}/down", group.group_id,
                                        f"Primary node {old}-0001 failed; automatic failover is disabled, so the "
                                        f"replicas are detached and kept read-only with their data (never to follow "
                                        f"a primary that comes back empty) until a new primary is chosen")
        if self._replicas_still_following(group, clusters):
            return []
        target = self.best_replica(group, clusters)
        if target is None:
            return await self._say_once(f"{group.group_id}/down", group.group_id,
                                        f"Primary node {old}-0001 failed and no replica can be reached to promote")
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
        await self.groups.change(group.group_id, promote, group_not_found)
        self._down_since.pop(group.group_id, None)
        await self.events.record("replication-group", group.group_id,
                                 f"Failover from primary node {old}-0001 to replica node {target}-0001 completed")
        await self.events.record("replication-group", group.group_id, f"Recovering cache nodes {old}-0001")
        return [f"{group.group_id}: promoted {target} after primary {old} failed"]

    # -- planned switch (ModifyReplicationGroup --primary-cluster-id, TestFailover) -----------------

    async def _planned_switch(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        old, target = group.primary, group.switch_to
        old_report = self.node_report(clusters.get(old))
        target_report = self.node_report(clusters.get(target))
        if self.clock() - group.switch_started > SWITCH_TIMEOUT_SECONDS:
            return await self._abort_switch(group, "the replica did not catch up in time")
        if old_report is None or target_report is None or not old_report.fenced:
            return []
        seen = self._fenced_seen.setdefault(group.group_id, time.monotonic())
        if time.monotonic() - seen < FENCE_SETTLE_SECONDS:
            return []
        if target_report.replication.link_status != agent_pb.LINK_STATE_UP or \
                target_report.replication.offset < old_report.replication.offset:
            return []
        self._fenced_seen.pop(group.group_id, None)
        self.on_demote(f"{old}-0001")

        def switch(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to != target or g.primary != old:
                return False
            g.primary, g.switch_to, g.epoch = target, "", g.epoch + 1
            return True
        await self.groups.change(group.group_id, switch, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 f"Failover from primary node {old}-0001 to replica node {target}-0001 completed "
                                 f"(planned; replica caught up at offset {target_report.replication.offset})")
        return [f"{group.group_id}: switched primary {old} -> {target}"]

    async def _abort_switch(self, group: ReplicationGroup, why: str) -> list[str]:
        target = group.switch_to
        self._fenced_seen.pop(group.group_id, None)

        def abort(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to != target:
                return False
            g.switch_to = ""
            return True
        await self.groups.change(group.group_id, abort, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 f"Planned switch to {target} aborted: {why}; {group.primary} stays primary")
        return [f"{group.group_id}: switch aborted"]

    # -- engine upgrades (ModifyReplicationGroup --engine-version, maintenance windows) ---------

    def _behind_version(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        return [m for m in group.members if m in clusters and clusters[m].engine_version != group.engine_version]

    def _fleet_versions(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> set[str]:
        """Redis versions installed on every live host of the group's members."""
        sets = [self.registry.hosts[n.host_id].engine_versions("redis") for m in group.members if m in clusters
                for n in clusters[m].nodes.values() if self.registry.is_live(n.host_id)]
        return set.intersection(*sets) if sets else set()

    async def _start_maintenance(self, group: ReplicationGroup) -> list[str]:
        version = group.pending.engine_version
        node_type = group.pending.cache_node_type
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

    def _moving(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        return [m for m in group.members if m in clusters and clusters[m].move]

    async def _move(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        """One step of a scale that needs other hosts: a replica at a time gets a new node of
        the new type on its target host (it syncs from the primary; the old engine is then
        an orphan and removed), under the same name; the primary hands its role over first."""
        moving = self._moving(group, clusters)
        replicas = [m for m in moving if m != group.primary]
        if not replicas:
            return await self._hand_over_primary(group, clusters, "move")
        candidate = replicas[0]
        if any(clusters[m].status != ClusterStatus.AVAILABLE for m in group.members
               if m != candidate and m in clusters and not clusters[m].move):
            return []
        target: dict = {}

        def move(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            member = members.get(candidate)
            if member is None or not member.move:
                return False
            target.update(member.move.to_dict())
            for node in member.live_nodes:
                node.host_id, node.zone, node.address = target["host_id"], target["zone"], target["address"]
                node.status = NodeStatus.MODIFYING
            member.move = None
            return True
        await self.groups.change(group.group_id, move, group_not_found)
        if not target:
            return []
        await self.events.record("replication-group", group.group_id,
                                 f"Moving {candidate} to host {target['host_id']} for the memory of a "
                                 f"{group.node_type} node")
        return [f"{group.group_id}: moving {candidate} to {target['host_id']}"]

    async def _hand_over_primary(self, group: ReplicationGroup, clusters: dict[str, Cluster], why: str) -> list[str]:
        """Start a planned switch away from the primary so that it can be changed as a replica."""
        target = self.best_replica(group, clusters)
        if target is None or any(clusters[m].status != ClusterStatus.AVAILABLE for m in group.replicas
                                 if m in clusters and not clusters[m].move):
            return []

        def switch(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.switch_to or g.primary != group.primary:
                return False
            g.switch_to, g.switch_started = target, self.clock()
            return True
        await self.groups.change(group.group_id, switch, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 f"Switching the primary to {target} to {why} {group.primary}")
        return [f"{group.group_id}: switching to {target} to {why} {group.primary}"]

    async def _patch(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        """One step of a rolling upgrade: replicas one at a time, then a planned switch to an
        upgraded replica (no acknowledged write lost), then the old primary, now a replica.
        A member is moved only when every other member serves."""
        behind = self._behind_version(group, clusters)
        replicas_behind = [m for m in behind if m != group.primary]
        candidate = replicas_behind[0] if replicas_behind else None
        if candidate is None and group.replicas:
            # only the primary is left: hand its role to an upgraded replica first
            return await self._hand_over_primary(group, clusters, "upgrade")
        candidate = candidate or group.primary
        others = [clusters[m] for m in group.members if m != candidate and m in clusters]
        if any(c.status != ClusterStatus.AVAILABLE for c in others):
            return []

        def upgrade(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            member = members.get(candidate)
            if member is None or member.engine_version == g.engine_version:
                return False
            member.engine_version = g.engine_version
            member.status = ClusterStatus.MODIFYING
            for node in member.nodes.values():
                node.engine_version, node.status = "", NodeStatus.MODIFYING
            return True
        await self.groups.change(group.group_id, upgrade, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 f"Upgrading {candidate} to redis {group.engine_version}")
        return [f"{group.group_id}: upgrading {candidate}"]

    # -- status and health -----------------------------------------------------------------------

    async def _settle(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
        if group.status == GroupStatus.AVAILABLE:
            return []
        members = [clusters.get(m) for m in group.members]
        if any(c is None or c.status != ClusterStatus.AVAILABLE for c in members) \
                or self._behind_version(group, clusters) or self._moving(group, clusters):
            return []
        done = "Replication group created" if group.status == GroupStatus.CREATING else "Replication group modified"
        if group.maintenance_running:
            done += "; maintenance finished"

        def settle(g: ReplicationGroup, _members: dict[str, Cluster]) -> bool:
            if g.status == GroupStatus.AVAILABLE or g.status == GroupStatus.DELETING:
                return False
            g.status, g.maintenance_running = GroupStatus.AVAILABLE, False
            return True
        await self.groups.change(group.group_id, settle, group_not_found)
        await self.events.record("replication-group", group.group_id, done)
        return [f"{group.group_id}: {done}"]

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
        for member in group.replicas:
            report = self.node_report(clusters.get(member))
            if report is None or report.spec.role != agent_pb.ROLE_REPLICA:
                continue
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
        return [f"{group.group_id}: {m}" for m in messages]

    async def _say_once(self, key: str, group_id: str, message: str) -> list[str]:
        if key in self._said:
            return []
        self._said.add(key)
        await self.events.record("replication-group", group_id, message)
        return [f"{group_id}: {message}"]
