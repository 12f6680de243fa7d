"""The cache cluster RPCs of CacheControl: validate, record desired state, wake the reconciler, return.

Handlers are thin; the rules live in validation.py and placement.py, the work in
the reconciler. A refused request raises ApiError before anything is written.
DescribeCacheNodeTypes and DescribeHosts, what clusters are placed on, are here too.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.domain import auth, validation
from coordinator.domain import maintenance, transit
from coordinator import notifications
from coordinator.domain.changes import ClusterChange, apply_change, applying_live, dry_run
from coordinator.state.repos import ClusterRepo, GroupRepo, SecurityGroupRepo, UserGroupRepo
from coordinator.api.auth_use import AccessUse, describe_access
from coordinator.api.convert import cluster_message
from coordinator.api.fleet import Fleet
from coordinator.api.lookups import find_cluster
from coordinator.api.paging import page_by_id, paginate
from coordinator.api.errors import rpc_errors
from coordinator.api.parameter_use import ParameterGroupUse
from coordinator.api.security_group_use import SecurityGroupUse
from coordinator.api.snapshot_rules import FinalSnapshots, RestoreSources, SnapshotOverlay, snapshot_settings
from coordinator.domain.errors import ApiError, cluster_state, combination, group_member, invalid
from coordinator.state.events import EventLog
from cachefleet.common.failpoints import failpoint
from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus, PendingChanges
from coordinator.domain.node_types import CATALOG
from coordinator.domain.placement import choose_config_port, host_views, place_new_cluster
from coordinator.state.registry import HostRegistry


def firewall_status(problem: str | None) -> dict[str, str]:
    """DescribeHosts' word on a host's cache security groups."""
    if problem is None:
        return {"firewall_status": "pending"}
    return {"firewall_status": "not-enforced", "firewall_message": problem} if problem else \
        {"firewall_status": "enforced"}


class ClusterServicer:
    def __init__(self, repo: ClusterRepo, groups: GroupRepo, registry: HostRegistry, events: EventLog,
                 wake: Callable[[], None], dns_zone: str, fleet: Fleet, parameters: ParameterGroupUse,
                 restores: RestoreSources, final_snapshots: FinalSnapshots, overlay: SnapshotOverlay,
                 clock: Callable[[], float] = time.time, webhooks: notifications.Webhooks | None = None,
                 security: SecurityGroupUse | None = None, access: AccessUse | None = None) -> None:
        self.repo = repo
        self.groups = groups
        self.registry = registry
        self.events = events
        self.wake = wake                 # the reconciler's: it carries out what was recorded
        self.zone = dns_zone
        self.fleet = fleet
        self.parameters = parameters
        self.restores = restores
        self.final_snapshots = final_snapshots
        self.overlay = overlay
        self.clock = clock
        self.webhooks = webhooks or notifications.Webhooks()   # where NotificationTopicArn may point
        self.security = security or SecurityGroupUse(SecurityGroupRepo(repo.store))
        self.access = access or AccessUse(UserGroupRepo(repo.store), None)

    # -- helpers -------------------------------------------------------------------------------

    def _reply(self, cluster: Cluster, show_nodes: bool = False) -> pb.CacheCluster:
        message = cluster_message(cluster, self.zone, show_nodes)
        message.cache_parameter_group.CopyFrom(self.parameters.status(cluster))
        message.cache_security_groups.extend(self.security.memberships(cluster))
        describe_access(cluster, message)
        notifications.configuration(cluster, message)
        if cluster.engine == "redis":
            message.snapshot_retention_limit, message.snapshot_window = cluster.snapshot_retention_limit, \
                cluster.snapshot_window
        self.overlay.apply(message, [cluster.cluster_id])
        return message

    # -- RPCs ----------------------------------------------------------------------------------

    @rpc_errors
    async def CreateCacheCluster(self, request, context):
        cluster_id = validation.cluster_id(request.cache_cluster_id)
        restore = await self.restores.requested(request, request.engine or "redis")   # a warm start
        if restore:
            request = self.restores.with_defaults(request, restore)
        engine = validation.engine(request.engine)
        node_type = validation.node_type(request.cache_node_type, engine)
        if not request.num_cache_nodes:   # proto3 cannot tell 0 from absent; a cluster of 0 is never asked for
            raise ApiError("MissingParameter", "The request must contain the parameter NumCacheNodes.")
        count = validation.num_nodes(request.num_cache_nodes, engine)
        port = validation.port(request.port) if request.HasField("port") else None
        zones = self._zones_for_create(request, count)
        if request.az_mode and request.az_mode not in ("single-az", "cross-az"):
            raise invalid(f"AZMode must be single-az or cross-az, got {request.az_mode!r}.")
        window = str(maintenance.parse(request.preferred_maintenance_window)) \
            if request.preferred_maintenance_window else maintenance.default_window(cluster_id)
        snapshot_limit, snapshot_window = snapshot_settings(request, cluster_id, engine, window)
        transit = validation.transit_encryption(
            request.transit_encryption_enabled if request.HasField("transit_encryption_enabled") else None,
            request.transit_encryption_mode)
        auth.token_at_create(request.auth_token, engine, transit)     # refused before the fleet is asked
        at_rest = validation.at_rest_encryption(request.at_rest_encryption_enabled, engine)
        parameter_group = await self.parameters.named(request.cache_parameter_group_name)
        security_groups = await self.security.named(request.cache_security_group_names) or []
        topic = self.webhooks.check_target(request.notification_topic_arn)
        async with self.repo.placement_lock:
            if await self.repo.get(cluster_id) is not None:
                raise ApiError("CacheClusterAlreadyExists", f"Cache cluster {cluster_id} already exists.")
            version = self.fleet.engine_version(engine, request.engine_version)
            self.restores.check_version(restore, version)
            self.fleet.check_transit(engine, version, transit)
            now = self.clock()
            cluster = Cluster(cluster_id, engine, version, node_type.name, port=0, created=now,
                              preferred_zones=sorted({z for z in zones if z}), maintenance_window=window,
                              auto_minor_version_upgrade=request.auto_minor_version_upgrade
                              if request.HasField("auto_minor_version_upgrade") else True)
            if parameter_group is not None:
                self.parameters.use(cluster, parameter_group)
            cluster.notification_topic_arn = topic
            cluster.security_groups = security_groups
            cluster.snapshot_retention_limit, cluster.snapshot_window = snapshot_limit, snapshot_window
            cluster.restore = restore
            cluster.transit_encryption_mode = transit
            await self.access.at_create(cluster, request, engine, transit, now, replicated=False)
            cluster.at_rest_encryption = at_rest
            views = host_views(self.registry.live(), await self.repo.shared())   # read-only
            cluster.port, slots = place_new_cluster(views, cluster, count, zones, port)
            if engine == "memcached":   # Auto Discovery answers on a port of its own (reconcile/discovery.py)
                cluster.config_port = choose_config_port(views, cluster.port, slots)
            if transit == "preferred":  # plaintext beside TLS while clients migrate, on a port of its own
                cluster.plaintext_port = choose_config_port(views, cluster.port, slots)
            for slot in slots:
                node_id = cluster.new_node_id()
                cluster.nodes[node_id] = Node(node_id, NodeStatus.CREATING, slot.host.host_id, slot.host.zone,
                                              slot.address, created=now)
            await self.repo.create(cluster)
        failpoint("create.after_store")
        await self.events.record("cache-cluster", cluster_id,
                                 f"Cache cluster creating: {count} {engine} {version} node(s) of {node_type.name}")
        self.wake()
        return pb.CreateCacheClusterResponse(cache_cluster=self._reply(cluster))

    def _zones_for_create(self, request, count: int) -> list[str | None]:
        known = self.fleet.zones()
        if request.preferred_availability_zones:
            if request.preferred_availability_zone:
                raise combination("Use PreferredAvailabilityZone or PreferredAvailabilityZones, not both.")
            return validation.zones(list(request.preferred_availability_zones), count, known)
        if request.preferred_availability_zone:
            return validation.zones([request.preferred_availability_zone] * count, count, known)
        return [None] * count

    @rpc_errors
    async def DescribeCacheClusters(self, request, context):
        if request.cache_cluster_id:
            clusters = [await find_cluster(self.repo, request.cache_cluster_id)]
            page, marker = paginate(clusters, request.max_records, request.marker)
        else:
            page, marker = await page_by_id(self.repo.page, lambda c: c.cluster_id, request.max_records,
                                            request.marker)
        await self.overlay.refresh()
        return pb.DescribeCacheClustersResponse(
            marker=marker, cache_clusters=[self._reply(c, request.show_cache_node_info) for c in page])

    @rpc_errors
    async def ModifyCacheCluster(self, request, context):
        cluster_id = validation.cluster_id(request.cache_cluster_id)
        window = maintenance.parse(request.preferred_maintenance_window) \
            if request.preferred_maintenance_window else None
        change = ClusterChange.from_request(request)
        topic_change = self.webhooks.requested_change(request)
        parameter_group = await self.parameters.named(request.cache_parameter_group_name)
        security_groups = await self.security.named(request.cache_security_group_names)
        access = await self.access.requested(request, replicated=False)
        async with self.repo.placement_lock:
            current = await find_cluster(self.repo, cluster_id)
            others = [c for c in await self.repo.shared() if c.cluster_id != cluster_id]   # read-only
            views = host_views(self.registry.live(), others)
            fleet_versions = self.fleet.versions(current.engine)
            notes: list[str] = []
            transit_plan = self._transit_plan(current, request, others)

            def modify(cluster: Cluster) -> bool:
                live: list[bool] = []
                changed = modify_all(cluster, live)
                if live:      # TLS or ACL users: `modifying` until every node's agent runs them
                    applying_live(cluster)
                return changed

            def modify_all(cluster: Cluster, live: list[bool]) -> bool:
                notes.clear()
                changed = False
                if window is not None and str(window) != cluster.maintenance_window:
                    cluster.maintenance_window, changed = str(window), True
                if request.HasField("auto_minor_version_upgrade"):
                    changed = changed or cluster.auto_minor_version_upgrade != request.auto_minor_version_upgrade
                    cluster.auto_minor_version_upgrade = request.auto_minor_version_upgrade
                if parameter_group is not None:
                    if cluster.replication_group_id:
                        raise combination(f"Cache cluster {cluster.cluster_id} is a member of replication group "
                                          f"{cluster.replication_group_id}: use ModifyReplicationGroup.")
                    if self.parameters.use(cluster, parameter_group):
                        changed = True
                        notes.append(f"cache parameter group {parameter_group.name}")
                if security_groups is not None and security_groups != cluster.security_groups:
                    if cluster.replication_group_id:
                        raise combination(f"Cache cluster {cluster.cluster_id} is a member of replication group "
                                          f"{cluster.replication_group_id}: use ModifyReplicationGroup.")
                    cluster.security_groups, changed = security_groups, True   # at once, whatever ApplyImmediately says
                    notes.append(self.security.note(security_groups))
                if notifications.apply_change(cluster, topic_change):
                    changed = True
                if access:
                    if cluster.replication_group_id:
                        raise combination(f"Cache cluster {cluster.cluster_id} is a member of replication group "
                                          f"{cluster.replication_group_id}: use ModifyReplicationGroup.")
                    access_notes = self.access.apply(cluster, access, cluster.engine, self.clock())
                    notes.extend(access_notes)
                    if access_notes:
                        live.append(True)
                if transit_plan is not None:   # made live at once (coordinator/domain/transit.py)
                    if cluster.status != ClusterStatus.AVAILABLE \
                            or cluster.transit_encryption_mode != current.transit_encryption_mode:
                        raise cluster_state(cluster.cluster_id, cluster.status.value)
                    notes.append(transit.note(cluster.transit_encryption_mode, transit_plan[0], cluster.port,
                                              cluster.plaintext_port, transit_plan[1]))
                    transit.apply(cluster, *transit_plan)
                    transit.check_off(cluster)
                    changed = True
                    live.append(True)
                settings = snapshot_settings(request, cluster.cluster_id, cluster.engine,
                                             cluster.maintenance_window,
                                             (cluster.snapshot_retention_limit, cluster.snapshot_window))
                if settings is not None and settings != (cluster.snapshot_retention_limit, cluster.snapshot_window):
                    cluster.snapshot_retention_limit, cluster.snapshot_window = settings
                    changed = True
                if change == ClusterChange():
                    return changed
                if cluster.status != ClusterStatus.AVAILABLE:
                    raise cluster_state(cluster.cluster_id, cluster.status.value)
                apply = lambda c: apply_change(c, change, views, self.fleet.zones(), fleet_versions,  # noqa: E731
                                               self.clock())
                if request.apply_immediately:
                    notes.extend(apply(cluster))
                    cluster.pending = PendingChanges()
                elif dry_run(cluster, apply):
                    cluster.pending = change.to_pending()
                    notes.append("pending until the maintenance window " + cluster.maintenance_window)
                return bool(notes) or changed
            cluster = await self.repo.mutate(cluster_id, modify)
        failpoint("modify.after_store")
        if notes:
            await self.events.record("cache-cluster", cluster_id, "Cache cluster modifying: " + "; ".join(notes))
            self.wake()
        return pb.ModifyCacheClusterResponse(cache_cluster=self._reply(cluster))

    def _transit_plan(self, cluster: Cluster, request, others: list[Cluster]) -> tuple[str, int] | None:
        """A standalone cluster's new TLS mode and plaintext port (a group's members change with
        their group); checked against its hosts. Called under the placement lock."""
        enabled = request.transit_encryption_enabled if request.HasField("transit_encryption_enabled") else None
        if enabled is None and not request.transit_encryption_mode:
            return None
        if cluster.replication_group_id:
            raise combination(f"Cache cluster {cluster.cluster_id} is a member of replication group "
                              f"{cluster.replication_group_id}: use ModifyReplicationGroup.")
        plan = transit.plan(cluster.transit_encryption_mode, cluster.plaintext_port, cluster.port, enabled,
                            request.transit_encryption_mode, cluster.engine,
                            host_views(self.registry.live(), [*others, cluster]), [cluster])
        if plan is not None:
            self.fleet.check_transit(cluster.engine, cluster.engine_version, plan[0])
        return plan

    @rpc_errors
    async def RebootCacheCluster(self, request, context):
        cluster_id = validation.cluster_id(request.cache_cluster_id)
        if not request.cache_node_ids_to_reboot:
            raise ApiError("MissingParameter", "The request must contain the parameter CacheNodeIdsToReboot.")

        group = None
        current = await find_cluster(self.repo, cluster_id)
        if current.replication_group_id:
            group = await self.groups.get(current.replication_group_id)

        def change(cluster: Cluster) -> None:
            if cluster.status != ClusterStatus.AVAILABLE:
                raise cluster_state(cluster.cluster_id, cluster.status.value)
            if group is not None and group.primary == cluster.cluster_id and group.replicas:
                raise ApiError("InvalidCacheClusterState",
                               f"Cache cluster {cluster_id} is the primary of replication group {group.group_id}: "
                               f"a reboot would bring it back empty under its replicas; use TestFailover or "
                               f"ModifyReplicationGroup --primary-cluster-id first.")
            ids = validation.node_ids(list(request.cache_node_ids_to_reboot),
                                      {n.node_id for n in cluster.live_nodes}, "CacheNodeIdsToReboot")
            for node_id in ids:
                node = cluster.nodes[node_id]
                node.status = NodeStatus.REBOOTING
                node.reboot_generation += 1
            cluster.status = ClusterStatus.REBOOTING
        cluster = await self.repo.mutate(cluster_id, change)
        await self.events.record("cache-cluster", cluster_id, "Cache cluster rebooting cache nodes "
                                 + ", ".join(sorted(request.cache_node_ids_to_reboot)))
        self.wake()
        return pb.RebootCacheClusterResponse(cache_cluster=self._reply(cluster))

    @rpc_errors
    async def DeleteCacheCluster(self, request, context):
        cluster_id = validation.cluster_id(request.cache_cluster_id)
        final = None
        if request.final_snapshot_identifier:   # recorded first, taken before the node goes
            current = await find_cluster(self.repo, cluster_id)
            if current.replication_group_id:
                raise group_member(current)
            if current.status != ClusterStatus.AVAILABLE:
                raise cluster_state(cluster_id, current.status.value)
            final = await self.final_snapshots.record(request.final_snapshot_identifier, current, None)

        def change(cluster: Cluster) -> None:
            if cluster.status == ClusterStatus.DELETING:
                raise ApiError("InvalidCacheClusterState", f"Cache cluster {cluster_id} is already being deleted.")
            if cluster.replication_group_id:
                raise group_member(cluster)
            if self.overlay.busy(cluster_id) and final is None:
                raise ApiError("InvalidCacheClusterState", f"Cache cluster {cluster_id} is snapshotting.")
            cluster.status = ClusterStatus.DELETING
            cluster.final_snapshot = final.name if final else ""
        cluster = await self.final_snapshots.write(final, lambda: self.repo.mutate(cluster_id, change))
        failpoint("delete.after_store")
        await self.events.record("cache-cluster", cluster_id, "Cache cluster deleting")
        self.wake()
        return pb.DeleteCacheClusterResponse(cache_cluster=self._reply(cluster))

    @rpc_errors
    async def DescribeCacheNodeTypes(self, request, context):
        return pb.DescribeCacheNodeTypesResponse(cache_node_types=[
            pb.CacheNodeTypeInfo(cache_node_type=t.name, memory_mb=t.memory_mb, engines=list(t.engines))
            for t in CATALOG.values()])

    @rpc_errors
    async def DescribeHosts(self, request, context):
        clusters = await self.repo.shared()   # read-only
        allocated: dict[str, int] = {}
        counts: dict[str, int] = {}
        for cluster in clusters:
            for node in cluster.nodes.values():
                if node.host_id:
                    allocated[node.host_id] = allocated.get(node.host_id, 0) + CATALOG[cluster.node_type].memory_mb
                    counts[node.host_id] = counts.get(node.host_id, 0) + 1
        hosts = []
        for state in sorted(self.registry.hosts.values(), key=lambda h: h.host_id):
            info = state.info
            hosts.append(pb.Host(
                host_id=info.host_id, address=info.address, agent_endpoint=info.agent_endpoint,
                availability_zone=info.availability_zone, memory_mb=info.memory_mb,
                memory_allocated_mb=allocated.get(info.host_id, 0), status="lost" if state.lost else "available",
                engines=list(info.engines), num_cache_nodes=counts.get(info.host_id, 0),
                stores=list(info.stores),
                **firewall_status(self.registry.firewall.get(info.host_id))))
        return pb.DescribeHostsResponse(hosts=hosts)
