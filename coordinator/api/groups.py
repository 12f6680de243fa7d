"""The replication group RPCs of CacheControl.

A group is one record (`groups/<id>`) naming its member clusters and its primary;
each member is a one-node redis cluster `<group>-001`, `-002`, ... Creating,
resizing, switching and deleting change the group and its members in one store
transaction; the reconciler does the rest.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.api.auth_use import AccessUse, copy_access, describe_access
from coordinator.api.fleet import Fleet
from coordinator.api.parameter_use import ParameterGroupUse
from coordinator.api.security_group_use import SecurityGroupUse
from coordinator.api.snapshot_rules import (FinalSnapshots, RestoreSources, SnapshotOverlay,
                                            apply_group_snapshot_settings, snapshot_settings)

from coordinator.domain import auth, validation
from coordinator.api.convert import pending_message, timestamp
from coordinator.domain.replication_link import link_status
from coordinator.domain.dnsnames import node_name, primary_name, reader_name
from coordinator.api.paging import page_by_id, paginate
from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import ApiError, cluster_not_found, combination, group_not_found, group_state, invalid
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, Node, NodeStatus, ReplicationGroup
from coordinator.domain import maintenance, transit
from coordinator import notifications
from coordinator.snapshots.runner import pick_member
from coordinator.domain.changes import (applying_live_in_group, check_scaling, check_version_change, scale_group,
                                       start_group_upgrade)
from coordinator.domain.placement import (account_usage, choose_config_port, copy_view, host_views,
                                           place_new_cluster, place_nodes)
from coordinator.reconcile.groups import GroupReconciler
from coordinator.state.events import EventLog
from coordinator.state.registry import HostRegistry
from coordinator.state.repos import ClusterRepo, GroupRepo, SecurityGroupRepo, UserGroupRepo

MAX_MEMBERS = 6          # a primary and up to five read replicas


def _flag(request, name: str, default: bool) -> bool:
    return getattr(request, name) if request.HasField(name) else default


class ReplicationGroupServicer:
    def __init__(self, repo: ClusterRepo, groups: GroupRepo, registry: HostRegistry, events: EventLog,
                 wake: Callable[[], None], dns_zone: str, reports: GroupReconciler, fleet: Fleet,
                 parameters: ParameterGroupUse, restores: RestoreSources, final_snapshots: FinalSnapshots,
                 overlay: SnapshotOverlay, clock: Callable[[], float] = time.time,
                 webhooks: notifications.Webhooks | None = None, security: SecurityGroupUse | None = None,
                 access: AccessUse | None = None, leads: Callable[[], bool] = lambda: True) -> None:
        self.repo = repo
        self.groups = groups
        # Whether this coordinator leads, and so holds the agents' reports; one that does not
        # shows each replica's link as the leader last recorded it in the group.
        self.leads = leads
        self.registry = registry
        self.events = events
        self.wake = wake                 # the reconciler's: it carries out what was recorded
        self.zone = dns_zone
        self.reports = reports           # replication state as agents report it; TestFailover's choice
        self.fleet = fleet
        self.parameters = parameters
        self.restores = restores
        self.final_snapshots = final_snapshots
        self.overlay = overlay
        self.clock = clock
        self.webhooks = webhooks or notifications.Webhooks()   # where NotificationTopicArn may point
        self.security = security or SecurityGroupUse(SecurityGroupRepo(repo.store))
        self.access = access or AccessUse(UserGroupRepo(repo.store), None)

    # -- helpers ---------------------------------------------------------------------------------

    async def _group(self, group_id: str) -> ReplicationGroup:
        group = await self.groups.get(validation.cluster_id(group_id, "ReplicationGroupId"))
        if group is None:
            raise group_not_found(group_id.lower())
        return group

    def _group_message(self, group: ReplicationGroup, members: dict[str, Cluster]) -> pb.ReplicationGroup:
        reports = self.reports
        primary_report = reports.node_report(members.get(group.primary))
        now = self.clock()
        node_group = pb.NodeGroup(
            node_group_id="0001", status=group.status.value,
            primary_endpoint=pb.Endpoint(address=primary_name(group.group_id, self.zone), port=group.port),
            reader_endpoint=pb.Endpoint(address=reader_name(group.group_id, self.zone), port=group.port))
        for member_id in group.members:
            cluster = members.get(member_id)
            if cluster is None or not cluster.nodes:
                continue
            node = next(iter(cluster.nodes.values()))
            member = pb.NodeGroupMember(
                cache_cluster_id=member_id, cache_node_id=node.node_id,
                read_endpoint=pb.Endpoint(address=node_name(member_id, node.node_id, self.zone), port=group.port),
                preferred_availability_zone=node.zone,
                current_role="primary" if member_id == group.primary else "replica",
                host_id=node.host_id or "", cache_node_status=node.status.value)
            report = reports.node_report(cluster)
            if member_id != group.primary and report is not None and report.HasField("replication"):
                info = report.replication
                member.replication_link_status = link_status(info)
                if primary_report is not None and info.link_status == agent_pb.LINK_STATE_UP:
                    member.replication_lag_bytes = max(0, primary_report.replication.offset - info.offset)
                if info.last_io_seconds_ago >= 0:
                    # An idle link is pinged every 10 s, so the seconds since the replica last heard
                    # from its primary climb to 10 on a replica with nothing to catch up: that is 0.
                    caught_up = info.link_status == "up" and primary_report is not None \
                        and info.offset >= primary_report.replication.offset
                    member.replication_lag_seconds = 0.0 if caught_up else float(info.last_io_seconds_ago)
                    member.last_sync_time.CopyFrom(timestamp(now - info.last_io_seconds_ago))
            elif member_id != group.primary and not self.leads():
                member.replication_link_status = group.links.get(member_id, "")
            node_group.node_group_members.append(member)
        message = notifications.configuration(group, pb.ReplicationGroup(
            replication_group_id=group.group_id, description=group.description, status=group.status.value,
            member_clusters=list(group.members), node_groups=[node_group],
            automatic_failover="enabled" if group.automatic_failover else "disabled",
            multi_az="enabled" if group.multi_az else "disabled", cache_node_type=group.node_type,
            replication_group_create_time=timestamp(group.created), engine="redis",
            engine_version=group.engine_version, port=group.port,
            preferred_maintenance_window=group.maintenance_window,
            auto_minor_version_upgrade=group.auto_minor_version_upgrade,
            pending_modified_values=pending_message(group.pending)))
        message.snapshot_retention_limit, message.snapshot_window = group.snapshot_retention_limit, \
            group.snapshot_window
        message.snapshotting_cluster_id = group.snapshotting_cluster_id
        message.transit_encryption_enabled = bool(group.transit_encryption_mode)
        message.transit_encryption_mode = group.transit_encryption_mode
        describe_access(group, message)
        if group.plaintext_port:
            message.plaintext_port = group.plaintext_port
        message.at_rest_encryption_enabled = group.at_rest_encryption
        self.overlay.apply(message, group.members)
        return message

    async def _reply_group(self, group_id: str) -> pb.ReplicationGroup:
        group = await self._group(group_id)
        members = {m: c for m in group.members if (c := await self.repo.get(m)) is not None}
        return self._group_message(group, members)

    def _new_members(self, group: ReplicationGroup, views, count: int, zones: list[str | None],
                     placed: list[Cluster], port: int | None) -> list[Cluster]:
        """Place `count` new one-node members on hosts no member uses yet; sets group.port."""
        pseudo = Cluster(group.group_id, "redis", group.engine_version, group.node_type, port=group.port)
        pseudo.plaintext_port = group.plaintext_port
        for member in placed:
            for node in member.nodes.values():
                pseudo.nodes[f"{member.cluster_id}/{node.node_id}"] = Node(node.node_id, host_id=node.host_id,
                                                                           zone=node.zone)
        if port is None and group.port:
            port = group.port
        if group.port:
            slots = place_nodes(list(views.values()), pseudo, count, zones, group.port, distinct_hosts=True)
        else:
            group.port, slots = place_new_cluster(views, pseudo, count, zones, port, distinct_hosts=True)
        if group.multi_az and len({s.host.zone for s in slots} | {n.zone for n in pseudo.nodes.values()}) < 2:
            raise ApiError("InsufficientCacheClusterCapacity",
                           "MultiAZEnabled needs members in at least two availability zones; the fleet's free "
                           "hosts are all in one.")
        if group.transit_encryption_mode == "preferred" and not group.plaintext_port:
            group.plaintext_port = choose_config_port(views, group.port, slots)
        now = self.clock()
        members = []
        for slot in slots:
            member = Cluster(group.new_member_id(), "redis", group.engine_version, group.node_type, group.port,
                             ClusterStatus.CREATING, created=now, replication_group_id=group.group_id,
                             preferred_zones=[slot.host.zone] if group.multi_az else [])
            member.nodes["0001"] = Node("0001", NodeStatus.CREATING, slot.host.host_id, slot.host.zone,
                                        slot.address, created=now)
            member.next_node_seq = 2
            member.parameter_group = group.parameter_group
            member.transit_encryption_mode, member.plaintext_port = group.transit_encryption_mode, group.plaintext_port
            member.at_rest_encryption = group.at_rest_encryption
            member.security_groups = list(group.security_groups)
            copy_access(group, member)
            members.append(member)
        return members

    # -- RPCs -------------------------------------------------------------------------------------

    @rpc_errors
    async def CreateReplicationGroup(self, request, context):
        group_id = validation.cluster_id(request.replication_group_id, "ReplicationGroupId")
        restore = await self.restores.requested(request, "redis")   # the primary warm-starts from it
        if restore:
            if request.primary_cluster_id:
                raise combination("PrimaryClusterId adopts a running primary; it cannot also start from a snapshot.")
            request = self.restores.with_defaults(request, restore)
        if len(group_id) > 40:
            raise invalid("ReplicationGroupId must be at most 40 characters.")
        if not request.replication_group_description:
            raise ApiError("MissingParameter", "The request must contain the parameter ReplicationGroupDescription.")
        if request.engine and request.engine != "redis":
            raise invalid(f"Replication groups run redis, not {request.engine!r}.")
        automatic_failover = _flag(request, "automatic_failover_enabled", False)
        multi_az = _flag(request, "multi_az_enabled", False)
        if multi_az and not automatic_failover:
            raise combination("MultiAZEnabled requires AutomaticFailoverEnabled.")
        zones_requested = list(request.preferred_cache_cluster_a_zs)
        window = str(maintenance.parse(request.preferred_maintenance_window)) \
            if request.preferred_maintenance_window else maintenance.default_window(group_id)
        parameter_group = await self.parameters.named(request.cache_parameter_group_name)
        security_groups = await self.security.named(request.cache_security_group_names)
        topic = self.webhooks.check_target(request.notification_topic_arn)
        snapshot_limit, snapshot_window = snapshot_settings(request, group_id, "redis", window)
        transit = validation.transit_encryption(
            request.transit_encryption_enabled if request.HasField("transit_encryption_enabled") else None,
            request.transit_encryption_mode)
        auth.token_at_create(request.auth_token, "redis", transit)    # refused before the fleet is asked
        at_rest = validation.at_rest_encryption(request.at_rest_encryption_enabled, "redis")
        async with self.repo.placement_lock:
            if await self.groups.get(group_id) is not None:
                raise ApiError("ReplicationGroupAlreadyExists", f"Replication group {group_id} already exists.")
            clusters = await self.repo.shared()   # read-only: placement counts what each host runs
            adopted: Cluster | None = None
            if request.primary_cluster_id:
                adopted = await self._adoptable_primary(request.primary_cluster_id, request)
                count = request.num_cache_clusters or 1
                node_type, version, port = adopted.node_type, adopted.engine_version, adopted.port
            else:
                count = request.num_cache_clusters or (len(zones_requested) or 1)
                node_type = validation.node_type(request.cache_node_type, "redis").name
                version = self.fleet.engine_version("redis", request.engine_version)
                self.restores.check_version(restore, version)
                port = validation.port(request.port) if request.HasField("port") else None
            if adopted and adopted.transit_encryption_mode != transit:
                raise combination("PrimaryClusterId names a cluster whose transit encryption differs from the "
                                  "group's; its members all serve alike.")
            if adopted and adopted.at_rest_encryption != at_rest:
                raise combination("PrimaryClusterId names a cluster whose at-rest encryption differs from the "
                                  "group's; its members' snapshots are all stored alike.")
            self.fleet.check_transit("redis", version, transit)
            if not 1 <= count <= MAX_MEMBERS:
                raise invalid(f"NumCacheClusters must be between 1 and {MAX_MEMBERS} (a primary and up to "
                              f"five replicas), got {count}.")
            if automatic_failover and count < 2:
                raise combination("AutomaticFailoverEnabled needs at least one replica (NumCacheClusters >= 2).")
            group = ReplicationGroup(group_id, request.replication_group_description, primary="",
                                     automatic_failover=automatic_failover, multi_az=multi_az, node_type=node_type,
                                     engine_version=version, port=adopted.port if adopted else 0,
                                     created=self.clock(), maintenance_window=window,
                                     auto_minor_version_upgrade=_flag(request, "auto_minor_version_upgrade", True))
            group.notification_topic_arn = topic
            group.transit_encryption_mode = transit
            await self.access.at_create(group, request, "redis", transit, self.clock(), replicated=True)
            group.at_rest_encryption = at_rest
            if adopted:
                group.plaintext_port = adopted.plaintext_port
                copy_access(group, adopted)     # the primary gets the group's users, live
            group.snapshot_retention_limit, group.snapshot_window = snapshot_limit, snapshot_window
            if parameter_group is not None:   # every member runs it, an adopted primary too
                self.parameters.check_fits(parameter_group, "redis", version, node_type)
                self.parameters.use_in_group(group, {adopted.cluster_id: adopted} if adopted else {}, parameter_group)
            elif adopted:
                group.parameter_group = adopted.parameter_group
            if security_groups is not None:   # every member's, an adopted primary's too
                group.security_groups = security_groups
                if adopted:
                    adopted.security_groups = list(security_groups)
            elif adopted:
                group.security_groups = list(adopted.security_groups)
            views = host_views(self.registry.live(), clusters)
            placed = [adopted] if adopted else []
            new_count = count - len(placed)
            zones = validation.zones(zones_requested[len(placed):] if zones_requested else [], new_count,
                                     self.fleet.zones()) if new_count else []
            if zones_requested and len(zones_requested) != count:
                raise invalid(f"PreferredCacheClusterAZs has {len(zones_requested)} entries for {count} clusters.")
            members = self._new_members(group, views, new_count, zones, placed, None if adopted else port) \
                if new_count else []
            if adopted:
                group.members = [adopted.cluster_id] + [m.cluster_id for m in members]
                group.next_member_seq = max(group.next_member_seq, 1)
                adopted.replication_group_id = group_id
            else:
                group.members = [m.cluster_id for m in members]
            group.primary = group.members[0]
            if restore:
                members[0].restore = restore
            existing = {}
            if adopted:
                existing[adopted.cluster_id] = (await self.repo.record_revision(adopted.cluster_id))
            if not await self.groups.create(group, ([adopted] if adopted else []) + members, existing):
                raise ApiError("ServiceUnavailable", "The fleet changed while the group was placed; try again.")
        await self.events.record("replication-group", group_id,
                                 f"Replication group creating: a primary and {count - 1} replica(s)")
        self.wake()
        return pb.CreateReplicationGroupResponse(replication_group=await self._reply_group(group_id))

    async def _adoptable_primary(self, cluster_id: str, request) -> Cluster:
        cluster = await self.repo.get(validation.cluster_id(cluster_id, "PrimaryClusterId"))
        if cluster is None:
            raise cluster_not_found(cluster_id.lower())
        if cluster.engine != "redis":
            raise invalid(f"Cache cluster {cluster.cluster_id} runs {cluster.engine}; only redis replicates.")
        if cluster.replication_group_id:
            raise ApiError("InvalidCacheClusterState",
                           f"Cache cluster {cluster.cluster_id} is already a member of replication group "
                           f"{cluster.replication_group_id}; a replica cannot have replicas.")
        if cluster.status != ClusterStatus.AVAILABLE:
            raise ApiError("InvalidCacheClusterState", f"Cache cluster {cluster.cluster_id} is not available.")
        if request.cache_node_type and request.cache_node_type != cluster.node_type:
            raise combination("CacheNodeType must match the primary cluster's node type.")
        return cluster

    @rpc_errors
    async def DescribeReplicationGroups(self, request, context):
        if request.replication_group_id:
            groups = [await self._group(request.replication_group_id)]
            page, marker = paginate(groups, request.max_records, request.marker)
        else:
            page, marker = await page_by_id(self.groups.page, lambda g: g.group_id, request.max_records,
                                            request.marker)
        await self.overlay.refresh()
        replies = []
        for group in page:
            members = {m: c for m in group.members if (c := await self.repo.get(m)) is not None}
            replies.append(self._group_message(group, members))
        return pb.DescribeReplicationGroupsResponse(marker=marker, replication_groups=replies)

    @rpc_errors
    async def ModifyReplicationGroup(self, request, context):
        group = await self._group(request.replication_group_id)
        target = validation.cluster_id(request.primary_cluster_id, "PrimaryClusterId") \
            if request.primary_cluster_id else ""
        window = str(maintenance.parse(request.preferred_maintenance_window)) \
            if request.preferred_maintenance_window else ""
        version = check_version_change("redis", group.engine_version, request.engine_version,
                                       self.fleet.versions("redis")) if request.engine_version else ""
        if version and version != group.engine_version:
            self.fleet.check_transit("redis", version, group.transit_encryption_mode)   # a TLS build of it
        node_type, moves = "", {}
        if request.cache_node_type:
            async with self.repo.placement_lock:
                clusters = await self.repo.all()
                views = host_views(self.registry.live(), [c for c in clusters if c.cluster_id not in group.members])
                node_type, moves = check_scaling("redis", group.node_type, request.cache_node_type,
                                                 [c for c in clusters if c.cluster_id in group.members], views,
                                                 movable=bool(group.replicas))
        parameter_group = await self.parameters.named(request.cache_parameter_group_name)
        security_groups = await self.security.named(request.cache_security_group_names)
        topic_change = self.webhooks.requested_change(request)
        access = await self.access.requested(request, replicated=True)
        transit_plan = await self._transit_plan(group, request)
        notes: list[str] = []

        def change(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            live: list[bool] = []
            changed = change_all(g, members, live)
            if live:      # TLS or ACL users: `modifying` until every member's agent runs them
                applying_live_in_group(g, members)
            return changed

        def change_all(g: ReplicationGroup, members: dict[str, Cluster], live: list[bool]) -> bool:
            notes.clear()
            access_notes = self.access.apply(g, access, "redis", self.clock())
            if access_notes:      # at once, whatever ApplyImmediately says: no restart needed
                for member in members.values():
                    copy_access(g, member)
                notes.extend(access_notes)
                live.append(True)
            transit_changed = transit_plan is not None
            if transit_plan is not None:   # made live on every member at once (coordinator/domain/transit.py)
                if g.switch_to or g.status != GroupStatus.AVAILABLE \
                        or g.transit_encryption_mode != group.transit_encryption_mode:
                    raise group_state(g.group_id, "switching primary" if g.switch_to else g.status.value)
                notes.append(transit.note(g.transit_encryption_mode, transit_plan[0], g.port, g.plaintext_port,
                                          transit_plan[1]))
                g.transit_encryption_mode, g.plaintext_port = transit_plan
                for member in members.values():
                    transit.apply(member, *transit_plan)
                transit.check_off(g)
                live.append(True)
            if parameter_group is not None and self.parameters.use_in_group(g, members, parameter_group):
                notes.append(f"cache parameter group {parameter_group.name}")
            security_changed = security_groups is not None and security_groups != g.security_groups
            if security_groups is not None:   # enforced at once, whatever ApplyImmediately says
                g.security_groups = security_groups
                for member in members.values():
                    member.security_groups = list(security_groups)
                if security_changed:
                    notes.append(self.security.note(security_groups))
            if window:
                g.maintenance_window = window
            if request.HasField("auto_minor_version_upgrade"):
                g.auto_minor_version_upgrade = request.auto_minor_version_upgrade
            topic_changed = notifications.apply_change(g, topic_change)
            topic_changed = apply_group_snapshot_settings(request, g) or topic_changed
            if not (target or version or node_type or request.HasField("automatic_failover_enabled")
                    or request.HasField("multi_az_enabled") or request.replication_group_description):
                return bool(window) or request.HasField("auto_minor_version_upgrade") or parameter_group is not None \
                    or topic_changed or security_changed or bool(access_notes) or transit_changed
            if g.switch_to or g.status not in (GroupStatus.AVAILABLE, GroupStatus.MODIFYING) \
                    or (g.status == GroupStatus.MODIFYING and not g.primary_failed):
                raise group_state(g.group_id, "switching primary" if g.switch_to else g.status.value)
            failover = _flag(request, "automatic_failover_enabled", g.automatic_failover)
            multi_az = _flag(request, "multi_az_enabled", g.multi_az)
            if failover and not g.replicas:
                raise combination("AutomaticFailoverEnabled needs at least one replica.")
            if multi_az and not failover:
                raise combination("MultiAZEnabled requires AutomaticFailoverEnabled.")
            if target:
                if target not in g.members:
                    raise invalid(f"Cache cluster {target} is not a member of replication group {g.group_id}.")
                if g.primary_failed:
                    # the old primary is gone: promote at once, nothing to catch up with
                    g.primary, g.primary_failed, g.epoch = target, False, g.epoch + 1
                    notes.append(f"promoting {target} after the primary failed")
                elif target != g.primary:
                    self._start_switch(g, members, target)
                    notes.append(f"switching the primary to {target}")
            if (failover, multi_az) != (g.automatic_failover, g.multi_az):
                notes.append(f"automatic failover {'enabled' if failover else 'disabled'}")
            if node_type and node_type != g.node_type:
                if request.apply_immediately:
                    scale_group(g, members, node_type, moves)
                    notes.append(f"scaling every member to {node_type}" + (
                        f"; moving {', '.join(sorted(moves))} to hosts with the memory" if moves else ", in place"))
                else:
                    g.pending.cache_node_type = node_type
                    notes.append(f"{node_type} pending until the maintenance window {g.maintenance_window}")
            if version and version != g.engine_version:
                if target:
                    raise combination("Change the engine version and the primary in separate requests.")
                if request.apply_immediately:
                    start_group_upgrade(g, version)
                    notes.append(f"upgrading to redis {version}: replicas first, then a planned switch")
                else:
                    g.pending.engine_version = version
                    notes.append(f"redis {version} pending until the maintenance window {g.maintenance_window}")
            g.automatic_failover, g.multi_az = failover, multi_az
            if request.replication_group_description:
                g.description = request.replication_group_description
            return True
        await self.groups.change(group.group_id, change, group_not_found)
        if notes:
            await self.events.record("replication-group", group.group_id,
                                     "Replication group modifying: " + "; ".join(notes))
        self.wake()
        return pb.ModifyReplicationGroupResponse(replication_group=await self._reply_group(group.group_id))

    async def _transit_plan(self, group: ReplicationGroup, request) -> tuple[str, int] | None:
        """The group's new TLS mode and plaintext port, checked against its members' hosts."""
        enabled = request.transit_encryption_enabled if request.HasField("transit_encryption_enabled") else None
        if enabled is None and not request.transit_encryption_mode:
            return None
        async with self.repo.placement_lock:
            clusters = await self.repo.all()
            members = [c for c in clusters if c.cluster_id in group.members]
            plan = transit.plan(group.transit_encryption_mode, group.plaintext_port, group.port, enabled,
                                request.transit_encryption_mode, "redis", host_views(self.registry.live(), clusters),
                                members)
        if plan is not None:
            self.fleet.check_transit("redis", group.engine_version, plan[0])
        return plan

    def _start_switch(self, g: ReplicationGroup, members: dict[str, Cluster], target: str) -> None:
        cluster = members.get(target)
        if cluster is None or any(n.status != NodeStatus.AVAILABLE for n in cluster.nodes.values()):
            raise ApiError("InvalidCacheClusterState", f"Replica {target} is not available to become primary.")
        g.switch_to, g.switch_started = target, self.clock()
        g.status = GroupStatus.MODIFYING

    @rpc_errors
    async def TestFailover(self, request, context):
        group = await self._group(request.replication_group_id)
        if request.node_group_id not in ("0001", "1"):
            raise ApiError("NodeGroupNotFoundFault", f"Node group {request.node_group_id!r} not found in "
                                                     f"replication group {group.group_id}.")
        members = {m: c for m in group.members if (c := await self.repo.get(m)) is not None}
        target = self.reports.best_replica(group, members)

        def change(g: ReplicationGroup, fresh: dict[str, Cluster]) -> bool:
            if g.status != GroupStatus.AVAILABLE or g.switch_to:
                raise group_state(g.group_id, g.status.value)
            if not g.automatic_failover:
                raise combination("TestFailover needs AutomaticFailoverEnabled.")
            if target is None:
                raise ApiError("InvalidReplicationGroupState", "No replica is in sync to take over.")
            self._start_switch(g, fresh, target)
            return True
        await self.groups.change(group.group_id, change, group_not_found)
        await self.events.record("replication-group", group.group_id,
                                 f"Test failover requested: switching the primary to {target}")
        self.wake()
        return pb.TestFailoverResponse(replication_group=await self._reply_group(group.group_id))

    @rpc_errors
    async def IncreaseReplicaCount(self, request, context):
        group = await self._group(request.replication_group_id)
        wanted = request.new_replica_count
        if not 1 <= wanted <= MAX_MEMBERS - 1:
            raise invalid(f"NewReplicaCount must be between 1 and {MAX_MEMBERS - 1}, got {wanted}.")
        async with self.repo.placement_lock:
            others = [c for c in await self.repo.all() if c.replication_group_id != group.group_id]
            views = host_views(self.registry.live(), others)
            added: list[str] = []

            def change(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
                added.clear()
                if g.status != GroupStatus.AVAILABLE or g.switch_to:
                    raise group_state(g.group_id, g.status.value)
                if wanted <= len(g.replicas):
                    raise invalid(f"NewReplicaCount {wanted} must be more than the current {len(g.replicas)}.")
                trial = {k: copy_view(v) for k, v in views.items()}
                account_usage(trial, list(members.values()))
                new = self._new_members(g, trial, wanted - len(g.replicas), [None] * (wanted - len(g.replicas)),
                                        list(members.values()), g.port)
                for member in new:
                    members[member.cluster_id] = member
                    g.members.append(member.cluster_id)
                    added.append(member.cluster_id)
                g.status = GroupStatus.MODIFYING
                return True
            await self.groups.change(group.group_id, change, group_not_found)
        await self.events.record("replication-group", group.group_id, f"Adding replicas {', '.join(added)}")
        self.wake()
        return pb.IncreaseReplicaCountResponse(replication_group=await self._reply_group(group.group_id))

    @rpc_errors
    async def DecreaseReplicaCount(self, request, context):
        group = await self._group(request.replication_group_id)
        removing: list[str] = []

        def change(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            removing.clear()
            if g.status != GroupStatus.AVAILABLE or g.switch_to:
                raise group_state(g.group_id, g.status.value)
            named = [validation.cluster_id(r, "ReplicasToRemove") for r in request.replicas_to_remove]
            if named:
                for member in named:
                    if member == g.primary:
                        raise invalid(f"{member} is the primary; switch the primary before removing it.")
                    if member not in g.replicas:
                        raise invalid(f"{member} is not a replica of replication group {g.group_id}.")
                if len(set(named)) != len(named):
                    raise invalid("ReplicasToRemove names the same replica twice.")
                if request.HasField("new_replica_count") and \
                        request.new_replica_count != len(g.replicas) - len(named):
                    raise combination("NewReplicaCount does not match ReplicasToRemove.")
                chosen = named
            elif request.HasField("new_replica_count"):
                wanted = request.new_replica_count
                if not 0 <= wanted < len(g.replicas):
                    raise invalid(f"NewReplicaCount must be between 0 and {len(g.replicas) - 1}, got {wanted}.")
                chosen = g.replicas[wanted:]
            else:
                raise ApiError("MissingParameter", "Give NewReplicaCount or ReplicasToRemove.")
            if g.automatic_failover and len(g.replicas) - len(chosen) < 1:
                raise combination("A replication group with automatic failover keeps at least one replica.")
            for member in chosen:
                g.members.remove(member)
                cluster = members.get(member)
                if cluster is not None:
                    cluster.status = ClusterStatus.DELETING
                    cluster.replication_group_id = ""
                removing.append(member)
            g.status = GroupStatus.MODIFYING
            return True
        await self.groups.change(group.group_id, change, group_not_found)
        await self.events.record("replication-group", group.group_id, f"Removing replicas {', '.join(removing)}")
        self.wake()
        return pb.DecreaseReplicaCountResponse(replication_group=await self._reply_group(group.group_id))

    @rpc_errors
    async def DeleteReplicationGroup(self, request, context):
        group = await self._group(request.replication_group_id)
        reply: list[pb.ReplicationGroup] = []
        final = None
        if request.final_snapshot_identifier:   # taken on one member before it is removed
            if group.status != GroupStatus.AVAILABLE:
                raise group_state(group.group_id, group.status.value)
            members = {m: await self.repo.get(m) for m in group.members}
            final = await self.final_snapshots.record(request.final_snapshot_identifier,
                                                      members[pick_member(group, members)], group)

        def change(g: ReplicationGroup, members: dict[str, Cluster]) -> bool:
            if g.status == GroupStatus.DELETING:
                raise group_state(g.group_id, g.status.value)
            if g.switch_to:
                raise group_state(g.group_id, "switching primary")
            g.status, g.retain_primary = GroupStatus.DELETING, request.retain_primary_cluster
            for member_id, cluster in members.items():
                if member_id == g.primary and g.retain_primary:
                    cluster.replication_group_id = ""
                else:
                    cluster.status = ClusterStatus.DELETING
                if final is not None and member_id == final.cluster_id:
                    cluster.final_snapshot = final.name
            reply[:] = [self._group_message(g, members)]
            return True
        await self.final_snapshots.write(final, lambda: self.groups.change(group.group_id, change,
                                                                           group_not_found))
        await self.events.record("replication-group", group.group_id, "Replication group deleting" + (
            f"; {group.primary} kept as a standalone cluster" if request.retain_primary_cluster else ""))
        self.wake()
        return pb.DeleteReplicationGroupResponse(replication_group=reply[0])
