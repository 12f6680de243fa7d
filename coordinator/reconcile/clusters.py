"""The level-triggered reconciler: desired state (store) vs observed state (agents).

Each cycle reads every cluster, compares it with what the agents last reported,
and issues idempotent agent calls (EnsureNode / RemoveNode) until they agree;
then it records status changes and publishes DNS. A coordinator killed at any
instant and restarted simply runs the next cycle: nothing is remembered between
cycles that the store and the agents do not already say.
`run_cycle()` returns one sentence saying what it did ("no action" when idle).
What to do is decided by the pure functions of decide_clusters and decide_placement
(and decide_groups, through GroupReconciler); this module gathers what they look at and
carries out what they answer.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Protocol

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.reconcile.acl import AccessSpecs
from coordinator.reconcile.agents import AgentClients
from coordinator.reconcile.certificates import NodeSigner, kept_certificate, node_names, with_transit
from coordinator.state.repos import ClusterRepo, GroupRepo, SecurityGroupRepo, UserGroupRepo, UserRepo
from coordinator.state.secrets import SecretBox
from coordinator.dns import DnsBackend, DnsError
from coordinator.domain.dnsnames import desired_records
from coordinator.reconcile.discovery import Discovery
from coordinator.reconcile.firewall import Firewall
from coordinator.domain.errors import ApiError
from coordinator.state.events import EventLog
from cachefleet.common.failpoints import failpoint
from cachefleet.common.tls.fleetca import CaError
from coordinator.domain import changes
from coordinator.reconcile.groups import GroupReconciler
from coordinator.parameters.status import apply_status
from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus, PendingChanges, ReplicationGroup
from coordinator.domain.roles import ReplicationRole, Role, protected_primaries, roles, writable_primaries
from coordinator.domain.node_types import CATALOG
from coordinator.parameters import CACHE as PARAMETER_CACHE, ParameterGroupRepo, effective_parameters, max_memory_mb
from coordinator.domain.placement import host_views
from coordinator.reconcile.actions import NoAction
from coordinator.reconcile.timeslice import TimeSlice
from coordinator.reconcile.decide_clusters import (
    ApplyPending, HostLost, RebootForParameters, dead_protected, decide_window, engine_restarted, homeless,
    node_events, node_status, redis_restarted, retry_due)
from coordinator.reconcile.decide_placement import plan_recovery
from coordinator.reconcile.decide_removal import RemoveEngine, decide_orphan
from coordinator.state.registry import HostRegistry, HostState

log = structlog.get_logger("reconciler")

EVENT_PRUNE_SECONDS = 3600.0
ORDERS_FIRST_TURNS = 3    # loop turns a failover's DNS update waits, so that the promotion orders go out first
CLUSTERS_AT_ONCE = 128   # clusters of their own, and groups, reconciled side by side in one cycle
ORPHANS_PER_HOST = 8   # orphan removals one host gets in one cycle (see _sweep_orphans)

SETTLED_EVENTS = {
    ClusterStatus.CREATING: "Cache cluster created",
    ClusterStatus.MODIFYING: "Cache cluster modified",
    ClusterStatus.REBOOTING: "Cache cluster nodes rebooted",
}

# The domain's roles as NodeSpec carries them.
SPEC_ROLES = {ReplicationRole.STANDALONE: agent_pb.ROLE_UNSPECIFIED, ReplicationRole.PRIMARY: agent_pb.ROLE_PRIMARY,
              ReplicationRole.REPLICA: agent_pb.ROLE_REPLICA}


def node_spec(cluster: Cluster, node: Node, role: Role | None = None,
              peers: Sequence[agent_pb.Peer] = ()) -> agent_pb.NodeSpec:
    """What the node's host must run: derived from the cluster, its parameter group and its role
    alone (and, for a primary, where its replicas' agents are)."""
    role = role or Role()
    version = cluster.node_version(node)
    parameters, immediate = effective_parameters(cluster, version=version)
    return agent_pb.NodeSpec(
        node_key=cluster.node_key(node.node_id), cache_cluster_id=cluster.cluster_id,
        cache_node_id=node.node_id, engine=cluster.engine, engine_version=version,
        port=cluster.port, max_memory_mb=max_memory_mb(cluster, CATALOG[cluster.node_type].memory_mb, version=version),
        reboot_generation=node.reboot_generation, bind_address=node.address,
        role=SPEC_ROLES[role.role], primary_address=role.primary_address, primary_port=role.primary_port,
        write_fenced=role.write_fenced, write_guard=role.write_guard, term=role.term, peers=peers,
        parameters=parameters, immediate_parameters=immediate)


def _fields(spec: agent_pb.NodeSpec) -> tuple[object, ...]:
    return (spec.engine, spec.engine_version, spec.port, spec.max_memory_mb, spec.bind_address,
            dict(spec.parameters), spec.role, spec.primary_address, spec.primary_port, spec.write_fenced,
            sorted(spec.immediate_parameters), spec.write_guard, spec.term,
            [(p.node_key, p.agent_endpoint) for p in spec.peers], spec.transit_encryption,
            list(spec.acl_users), spec.replication_password)


def spec_matches(running: agent_pb.NodeSpec, wanted: agent_pb.NodeSpec) -> bool:
    """Same program, role and fencing, and rebooted at least as often."""
    return _fields(running) == _fields(wanted) and running.reboot_generation >= wanted.reboot_generation


class DataRestorer(Protocol):
    """Backup and restore as the reconciler uses it (coordinator.snapshots.restore.Restorer)."""

    def pending(self, cluster: Cluster) -> bool: ...

    async def restore(self, endpoint: str, cluster: Cluster, node_id: str, engine_version: str) -> None: ...

    async def final_snapshot_pending(self, cluster: Cluster) -> str: ...


class NodeMeter(Protocol):
    """Node-hour metering as the reconciler feeds it (coordinator.metrics.metering.Meter)."""

    async def observe_safely(self, clusters: list[Cluster] | None = None) -> None: ...


@dataclass(frozen=True)
class Listing:
    """The groups and clusters a cycle read, and the store's write count when it read them."""
    groups: list[ReplicationGroup]
    clusters: list[Cluster]
    writes: int


@dataclass(frozen=True)
class Verdict:
    """A node found running the spec wanted, and what that spec was built from then."""
    inputs: tuple[int, int, int]
    cluster: Cluster                       # the record (its object: Repository.shared gives a new one when written)
    role: Role
    peers: tuple[Cluster | None, ...]      # the replicas' records a primary's spec names the agents of
    running: agent_pb.NodeSpec


class Reconciler:
    def __init__(self, repo: ClusterRepo, groups: GroupRepo, registry: HostRegistry, agents: AgentClients,
                 events: EventLog, dns: DnsBackend, interval: float = 0.5, clock: Callable[[], float] = time.time,
                 restorer: DataRestorer | None = None, meter: NodeMeter | None = None,
                 on_node_gone: Callable[[str, str], None] = lambda cluster_id, node_id: None,
                 standalone_replace_after: float = 300.0, signer: NodeSigner | None = None,
                 secrets: SecretBox | None = None, acting: Callable[[], bool] = lambda: True):
        self.repo = repo
        # several coordinators: whether this one leads right now; a cycle starts only then (a
        # leader frozen past its renew deadline and thawed skips the cycle due, and stops)
        self.acting = acting
        self.signer = signer      # signs TLS nodes' certificates (None: no --node-ca-dir)
        # the ACL users of each node (AUTH tokens, user groups) and its group's replication password
        self.access = AccessSpecs(UserRepo(repo.store), UserGroupRepo(repo.store), secrets)
        self.groups = groups
        self.slice = TimeSlice()   # turns and groups step aside for the heartbeats once it is used up
        self.group_reconciler = GroupReconciler(groups, repo, registry, events, clock, on_demote=self._demote,
                                                slice=self.slice)
        self.role_of: dict[str, Role] = {}
        self._by_id: dict[str, Cluster] = {}
        self.protected: set[str] = set()
        # host id -> primaries there that may take writes; sent in every heartbeat answer
        self.writable: dict[str, list[str]] = {}
        self.roles_known = asyncio.Event()   # set once the first cycle has derived the roles
        self.registry = registry
        self.agents = agents
        self.events = events
        self.dns = dns
        self.discovery = Discovery(repo, registry, agents, dns.zone)   # memcached Auto Discovery
        self.firewall = Firewall(repo, SecurityGroupRepo(repo.store), registry, agents, events)   # security groups
        self.restorer = restorer
        # how long a standalone redis node waits on its lost host before it is re-created empty
        self.standalone_replace_after = standalone_replace_after
        self._restoring: dict[str, asyncio.Task[None]] = {}       # node key -> its data being restored
        # (cluster, node) whose record is gone: the server drops its latest metrics
        self.on_node_gone = on_node_gone
        self.interval = interval
        self.clock = clock
        self._wake = asyncio.Event()
        self._restarts_seen: dict[str, int] = {}
        self._runs_seen: dict[str, str] = {}      # host/node key -> run id of what its redis process loaded
        self._retry_at: dict[str, float] = {}
        self.cycles = 0
        self.last_sentence = ""
        self.meter = meter   # told of node lifetimes at the end of each cycle
        self._last_listing: Listing | None = None   # what the last cycle read
        # node key -> (cluster, report) this cycle found running the spec wanted (the same objects)
        self._current: dict[str, tuple[Cluster, agent_pb.NodeState]] = {}
        self.last_phases: dict[str, float] = {}   # ms in each part of the last cycle
        self._dns_synced: tuple[list[Cluster], list[ReplicationGroup]] | None = None   # the lists last published
        # node key -> (inputs, cluster, role, the spec it ran) when last found running the spec wanted
        self._verdicts: dict[str, Verdict] = {}

    def wake(self) -> None:
        """Run the next cycle now (after an API change or a heartbeat that changed something)."""
        self._wake.set()

    async def run(self) -> None:
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + EVENT_PRUNE_SECONDS
                try:
                    await self.events.prune()
                except Exception:  # noqa: BLE001 - pruning can wait for the next hour
                    log.exception("event pruning failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.acting():
                self._last_listing = None   # leading again later: what others wrote meanwhile is read
                continue
            started = time.monotonic()
            try:
                sentence = await self.run_cycle()
            except Exception:  # a cycle must never kill the loop; the next one retries
                log.exception("reconcile cycle failed")
                continue
            seconds = round(time.monotonic() - started, 4)
            log.debug("cycle", seconds=seconds, phases_ms=self.last_phases)   # every cycle, idle ones too
            if sentence != "no action":
                log.info("reconciled", actions=sentence, seconds=seconds)

    async def run_cycle(self) -> str:
        actions: list[str] = []
        self._current = {}
        phases = self.last_phases = {}
        mark = time.monotonic()

        def phase(name: str) -> None:   # ms spent in each part of the cycle (logged with it)
            nonlocal mark
            now = time.monotonic()
            phases[name] = round((now - mark) * 1000, 1)
            mark = now
        await PARAMETER_CACHE.refresh(ParameterGroupRepo.beside(self.repo))  # what node_spec() reads
        await self.access.refresh()                                           # and the users it gives
        for host in self.registry.newly_lost():
            lost = HostLost(host.host_id, self.registry.host_timeout)
            for message in lost.events:
                await self.events.record("host", host.host_id, message)
            actions.append(lost.sentence)
        listing = await self._listing(self._last_listing)   # the last cycle's, when nothing was written since
        groups, clusters = listing.groups, listing.clusters
        phase("read")
        # first the failovers, the groups whose members' reports changed ahead of the others
        actions += await self.group_reconciler.run(groups, {c.cluster_id: c for c in clusters},
                                                   self.registry.take_changed_nodes())
        listing = await self._listing(listing)
        groups, clusters = listing.groups, listing.clusters
        self._derive_roles(groups, clusters)
        if self.group_reconciler.promoted:
            try:
                actions += await self._hand_over([p.member for p in self.group_reconciler.promoted], clusters, groups)
            finally:
                await self.group_reconciler.promoted_events()
        phase("groups")
        # before any engine starts: a security group change is in force within a cycle, and a
        # node the API placed has its port guarded (a promoted replica runs already)
        actions += await self.firewall.run_cycle(clusters)
        phase("firewall")
        actions += await self._reconcile_all(clusters)
        self._verdicts = {key: seen for key, seen in self._verdicts.items() if key in self._current}
        phase("turns")
        before, listing = listing, await self._listing(listing)
        self._last_listing = listing
        groups, clusters = listing.groups, listing.clusters
        if listing is not before:   # the turns wrote: roles and firewalls again, for the nodes they placed
            self._derive_roles(groups, clusters)
            actions += await self.firewall.run_cycle(clusters)
        phase("firewall_again")
        if self.registry.urgent:   # a failover may be due: the next cycle, at once, decides it first
            return self._said(actions)
        actions += await self._sweep_orphans(clusters)
        phase("orphans")
        actions += await self.discovery.run_cycle(clusters)
        phase("discovery")
        actions += await self._publish_dns(clusters, groups)
        phase("dns")
        if self.meter is not None:   # in the cycle that created or removed a node: its exact times
            await self.meter.observe_safely(clusters)
        phase("meter")
        return self._said(actions)

    def _said(self, actions: list[str]) -> str:
        self.cycles += 1
        self.last_sentence = "; ".join(actions) or "no action"
        return self.last_sentence

    async def _listing(self, before: Listing | None = None) -> Listing:
        """Every group and cluster as the store holds them; `before` again when nothing was
        written since it was read (the fleet is read once in a cycle that changed nothing)."""
        store = self.repo.store
        if before is not None and before.writes == store.writes:
            return before
        writes = store.writes          # taken before the reads: a write that ends meanwhile reads again
        return Listing(await self.groups.shared(), await self.repo.shared(), writes)   # read-only

    async def _reconcile_all(self, clusters: list[Cluster]) -> list[str]:
        """Every cluster's turn, their sentences in the clusters' order. Clusters of their own, and
        replication groups, run side by side (at most CLUSTERS_AT_ONCE): fifty deletions are fifty
        engines stopping at once, not one after another, and a thousand groups do not wait on each
        other's agent calls. The members of one group keep their turns one at a time, in order, as
        their promotions and re-pointings were decided to be carried out."""
        results: dict[int, list[str]] = {}
        room = asyncio.Semaphore(CLUSTERS_AT_ONCE)
        turns: dict[str, list[tuple[int, Cluster]]] = {}   # a group's members, or one cluster alone
        for i, cluster in enumerate(clusters):
            turns.setdefault(cluster.replication_group_id or f"/{cluster.cluster_id}", []).append((i, cluster))

        async def in_turn(members: list[tuple[int, Cluster]]) -> None:
            async with room:
                for i, cluster in members:
                    await self.slice.step_aside()   # a settled turn never waits: heartbeats come in between
                    if self.registry.urgent:        # a failover may be due: the next cycle decides it first
                        return
                    results[i] = await self._reconcile(cluster)

        outcomes = await asyncio.gather(*(in_turn(members) for members in turns.values()), return_exceptions=True)
        for outcome in outcomes:   # all have finished: a failed cycle leaves nothing running behind it
            if isinstance(outcome, BaseException):
                raise outcome
        return [action for i in range(len(clusters)) for action in results.get(i, [])]

    async def _hand_over(self, promoted: list[str], clusters: list[Cluster],
                         groups: list[ReplicationGroup]) -> list[str]:
        """A failover's promotion is recorded: the new primaries get their role and the names
        move to them at once, side by side, ahead of every other node of the cycle (the old
        primary is dead or fenced, and out of the writable list already). The per-node pass
        then finds them done."""
        chosen = [c for c in clusters if c.cluster_id in promoted]
        async def names() -> list[str]:
            # the orders first: their calls start within the loop's next turns, each on its way to
            # its agent before the fleet's names are built (over a large fleet, tens of ms)
            for _ in range(ORDERS_FIRST_TURNS):
                await asyncio.sleep(0)
            return await self._publish_dns(clusters, groups)
        results = await asyncio.gather(names(), *(self._ensure_running(c, guard=False) for c in chosen))
        return [a for actions in results for a in actions]

    def _derive_roles(self, groups: list[ReplicationGroup], clusters: list[Cluster]) -> None:
        by_id = {c.cluster_id: c for c in clusters}
        self._by_id = by_id
        self.role_of = roles(groups, by_id, {g.group_id for g in groups if self._has_healthy_replica(g, by_id)},
                             self.group_reconciler.withheld)
        self.protected = protected_primaries(groups)
        self.writable = writable_primaries(self.role_of, by_id)
        self.roles_known.set()

    def _has_healthy_replica(self, group: ReplicationGroup, clusters: dict[str, Cluster]) -> bool:
        """A replica on a live host reports itself serving and linked to the primary: the
        primary may rely on it to guard its writes."""
        for member in group.replicas:
            cluster = clusters.get(member)
            if cluster is None:
                continue
            for node in cluster.nodes.values():
                reported = self._reported(cluster, node) if self.registry.is_live(node.host_id) else None
                if reported is not None and reported.status == agent_pb.NODE_STATUS_AVAILABLE \
                        and reported.replication.link_status == agent_pb.LINK_STATE_UP:
                    return True
        return False

    def _spec(self, cluster: Cluster, node: Node) -> agent_pb.NodeSpec:
        """node_spec with the role derived this cycle and the agents of a primary's replicas."""
        role = self._role(cluster)
        peers = []
        for member in role.peers:
            replica = self._by_id.get(member)
            if replica is None:
                continue
            for replica_node in replica.nodes.values():
                host = self.registry.hosts.get(replica_node.host_id or "")
                if host is not None:
                    peers.append(agent_pb.Peer(node_key=replica.node_key(replica_node.node_id),
                                               agent_endpoint=host.info.agent_endpoint))
        return self.access.apply(with_transit(node_spec(cluster, node, role, peers), cluster, self.signer), cluster)

    def _wanted(self, cluster: Cluster, node: Node,
                reported: agent_pb.NodeState | None) -> tuple[agent_pb.NodeSpec, list[str]]:
        """_spec with the certificate the node runs while it will do, and the names a TLS node's
        certificate carries ([] without TLS). An empty certificate: a new one is to be signed."""
        wanted = self._spec(cluster, node)
        names = node_names(cluster, node, self.dns.zone) if wanted.transit_encryption.mode else []
        if names:
            wanted.transit_encryption.cert_pem = kept_certificate(reported, names)
            if self.signer is None and reported is not None:
                # no CA to sign with (started without --node-ca-dir): a running node keeps the
                # certificate and CA bundle it has rather than be sent a spec it must refuse
                wanted.transit_encryption.cert_pem = reported.spec.transit_encryption.cert_pem
                wanted.transit_encryption.ca_pem = reported.spec.transit_encryption.ca_pem
        return wanted, names

    def _demote(self, node_key: str) -> None:
        """Stop listing a primary as writable at once, before the promotion is even written."""
        for keys in self.writable.values():
            if node_key in keys:
                keys.remove(node_key)

    def _role(self, cluster: Cluster) -> Role:
        return self.role_of.get(cluster.cluster_id, Role())

    def _dead_protected(self, cluster: Cluster, node: Node) -> bool:
        """A primary with replicas that is down: only a failover may replace it, unless every
        member of its group had stopped and its data is the freshest (it is started again)."""
        if cluster.cluster_id in self.group_reconciler.restarting.values():
            return False
        return dead_protected(cluster, self.protected, self.registry.is_live(node.host_id),
                              self._reported(cluster, node))

    # -- one cluster -------------------------------------------------------------------------

    async def _reconcile(self, cluster: Cluster) -> list[str]:
        if cluster.status == ClusterStatus.RESTORE_FAILED:
            return []     # nothing runs; it waits for DeleteCacheCluster
        if cluster.status == ClusterStatus.DELETING:
            if cluster.final_snapshot and self.restorer is not None:
                waiting = await self.restorer.final_snapshot_pending(cluster)
                if waiting:
                    return [f"{cluster.cluster_id}: {waiting}"]
            return await self._delete(cluster)
        actions = await self._remove_deleted_nodes(cluster)
        if self._homeless(cluster):
            actions += await self._place_homeless(cluster.cluster_id)
        window = decide_window(cluster, self.clock(), cluster.cluster_id in self.protected,
                               lambda: apply_status(cluster, self.registry.hosts), self._fleet_versions(cluster))
        if isinstance(window, RebootForParameters):
            actions += await self._window_reboot(window)
        elif isinstance(window, ApplyPending):
            if window.minor_upgrade:
                target = window.minor_upgrade
                await self.repo.mutate(cluster.cluster_id, lambda c: _set_pending(c, target))
                cluster = await self.repo.get(cluster.cluster_id) or cluster
            if cluster.pending:
                actions += await self._maintain(cluster.cluster_id)
        if changes.upgrading(cluster):
            actions += await self._roll_upgrade(cluster.cluster_id)
        if actions or not isinstance(window, NoAction) or changes.upgrading(cluster) \
                or any(n.status == NodeStatus.DELETING for n in cluster.nodes.values()):
            # the steps above may have written it: read it again. A settled cluster goes on with
            # this cycle's listing, and costs the store nothing (a change the API made since is
            # the next cycle's, as it would be one moment later anyway)
            cluster = await self.repo.get(cluster.cluster_id) or cluster
        actions += await self._ensure_running(cluster)
        actions += await self._record_status(cluster)
        return actions

    def _reported(self, cluster: Cluster, node: Node) -> agent_pb.NodeState | None:
        host = self.registry.hosts.get(node.host_id or "")
        return host.nodes.get(cluster.node_key(node.node_id)) if host else None

    def _gone(self, cluster: Cluster, node: Node) -> bool:
        """The node runs nowhere we can reach: never placed, host lost, or not reported by its host.

        A live host that has not reported since this coordinator started may still run it.
        """
        if not self.registry.is_live(node.host_id):
            return True
        return self.registry.hosts[node.host_id or ""].reported and self._reported(cluster, node) is None

    async def _remove(self, cluster: Cluster, nodes: list[Node]) -> list[str]:
        """RemoveNode on every reachable host at once: an engine takes up to a second to stop.
        Only for nodes the user deleted (the cluster, or fewer nodes): their data goes with them."""
        calls = [self._remove_one(cluster, node) for node in nodes
                 if not self._gone(cluster, node) and self.registry.has_reported(node.host_id)]
        return [a for a in await asyncio.gather(*calls) if a]

    async def _remove_one(self, cluster: Cluster, node: Node) -> str:
        host = self.registry.hosts[node.host_id or ""]
        key = cluster.node_key(node.node_id)
        failpoint("reconcile.before_remove_node")
        try:
            await self.agents.remove_node(host.info.agent_endpoint, key, discard_data=True)
        except grpc.aio.AioRpcError as exc:
            log.warning("remove failed", node_key=key, host_id=host.host_id, error=exc.details())
            return ""
        self.registry.forget_node(host.host_id, key)
        failpoint("reconcile.after_remove_node")
        return f"removed {key} from {host.host_id}"

    async def _delete(self, cluster: Cluster) -> list[str]:
        actions = await self._remove(cluster, list(cluster.nodes.values()))
        if all(self._gone(cluster, n) for n in cluster.nodes.values()):
            for node_id in cluster.nodes:       # first: once the record is gone, so are its metrics
                self.on_node_gone(cluster.cluster_id, node_id)
            await self.repo.delete(cluster.cluster_id)
            await self.events.record("cache-cluster", cluster.cluster_id, "Cache cluster deleted")
            actions.append(f"deleted cluster {cluster.cluster_id}")
        return actions

    async def _remove_deleted_nodes(self, cluster: Cluster) -> list[str]:
        doomed = [n for n in cluster.nodes.values() if n.status == NodeStatus.DELETING]
        actions = await self._remove(cluster, doomed)
        gone = {n.node_id for n in doomed if self._gone(cluster, n)}
        if gone:
            def drop(c: Cluster) -> None:
                for node_id in gone:
                    c.nodes.pop(node_id, None)
            for node_id in gone:
                self.on_node_gone(cluster.cluster_id, node_id)
            await self.repo.mutate(cluster.cluster_id, drop)
            for node_id in sorted(gone):
                await self.events.record("cache-cluster", cluster.cluster_id, f"Removed cache node {node_id}")
        return actions

    def _fleet_versions(self, cluster: Cluster) -> set[str]:
        """Versions of the cluster's engine installed on every live host it runs on."""
        hosts = [self.registry.hosts[n.host_id or ""] for n in cluster.live_nodes if self.registry.is_live(n.host_id)]
        sets = [h.engine_versions(cluster.engine) for h in hosts]
        return set.intersection(*sets) if sets else set()

    async def _maintain(self, cluster_id: str) -> list[str]:
        """Apply a cluster's pending changes: its maintenance window has come."""
        notes: list[str] = []
        failure: list[str] = []
        async with self.repo.placement_lock:
            others = [c for c in await self.repo.all() if c.cluster_id != cluster_id]
            views = host_views(self.registry.live(), others)

            def apply(c: Cluster) -> bool:
                notes.clear()
                failure.clear()
                if not c.pending or c.status != ClusterStatus.AVAILABLE:
                    return False
                change = changes.ClusterChange.from_pending(c.pending)
                fleet = {v for h in self.registry.live() for v in h.engine_versions(c.engine)}
                zones = {h.info.availability_zone for h in self.registry.live()}
                try:
                    notes.extend(changes.dry_run(c, lambda copy: changes.apply_change(
                        copy, change, views, zones, fleet, self.clock())))
                    notes[:] = changes.apply_change(c, change, views, zones, fleet, self.clock())
                except ApiError as exc:
                    failure.append(str(exc))
                c.pending = PendingChanges()
                c.maintenance_running = bool(notes)
                return True
            await self.repo.mutate(cluster_id, apply)
        if failure:
            await self.events.record("cache-cluster", cluster_id,
                                     f"Maintenance could not apply the pending changes: {failure[0]}")
        if notes:
            await self.events.record("cache-cluster", cluster_id, "Maintenance started: " + "; ".join(notes))
        return [f"{cluster_id}: maintenance started"] if notes else []

    async def _window_reboot(self, action: RebootForParameters) -> list[str]:
        """Reboot the nodes whose requires-reboot parameters wait: their window has come."""
        cluster_id, node_ids = action.cluster_id, action.node_ids

        def reboot(c: Cluster) -> bool:
            if c.status != ClusterStatus.AVAILABLE:
                return False
            for node_id in node_ids:
                node = c.nodes.get(node_id)
                if node is not None and node.status == NodeStatus.AVAILABLE:
                    node.status, node.reboot_generation = NodeStatus.REBOOTING, node.reboot_generation + 1
            c.status, c.maintenance_running = ClusterStatus.REBOOTING, True
            return True
        await self.repo.mutate(cluster_id, reboot)
        for message in action.events:
            await self.events.record("cache-cluster", cluster_id, message)
        return [action.sentence]

    async def _roll_upgrade(self, cluster_id: str) -> list[str]:
        moved: list[str] = []

        def step(c: Cluster) -> bool:
            moved.clear()
            if c.status != ClusterStatus.MODIFYING:
                return False
            node_id = changes.roll_upgrade(c)
            if node_id is None:
                return False
            moved.append(node_id)
            return True
        cluster = await self.repo.mutate(cluster_id, step)
        if not moved:
            return []
        await self.events.record("cache-cluster", cluster_id,
                                 f"Upgrading cache node {moved[0]} to {cluster.engine} {cluster.engine_version}")
        return [f"{cluster_id}: upgrading node {moved[0]}"]

    def _homeless(self, cluster: Cluster) -> list[Node]:
        if all(self.registry.is_live(n.host_id) for n in cluster.nodes.values()):
            return []   # the usual case, decided without listing the fleet's hosts
        return homeless(cluster, {h.host_id for h in self.registry.live()}, self.protected,
                        self.registry.lost_for(), self.standalone_replace_after)

    async def _place_homeless(self, cluster_id: str) -> list[str]:
        """Re-create nodes whose host is lost (or that never found one) on another host."""
        async with self.repo.placement_lock:
            clusters = await self.repo.all()
            cluster = next((c for c in clusters if c.cluster_id == cluster_id), None)
            if cluster is None or cluster.status == ClusterStatus.DELETING or not self._homeless(cluster):
                return []
            return await self._place(cluster, clusters, self._homeless(cluster))

    async def _place(self, cluster: Cluster, clusters: list[Cluster], nodes: list[Node]) -> list[str]:
        views = host_views(self.registry.live(), [c for c in clusters if c.cluster_id != cluster.cluster_id])
        plan = plan_recovery(cluster, clusters, nodes, views, self.registry.lost_for())
        placed, failed = plan.placed, plan.failed

        def apply(c: Cluster) -> bool:
            changed = False
            for node_id, slot in placed.items():
                node = c.nodes.get(node_id)
                if node is None or self.registry.is_live(node.host_id):
                    continue
                node.status = NodeStatus.RECOVERING if node.host_id else NodeStatus.CREATING
                node.moved_from = ""          # re-created: what was left on its old host is kept
                node.host_id, node.zone, node.address = slot.host.host_id, slot.host.zone, slot.address
                node.message = ""
                changed = True
            for node_id, why in failed.items():
                node = c.nodes.get(node_id)
                if node is not None and (node.status != NodeStatus.FAILED or node.message != why):
                    node.status, node.message = NodeStatus.FAILED, why
                    changed = True
            return changed
        await self.repo.mutate(cluster.cluster_id, apply)
        failpoint("reconcile.after_place")
        for message in plan.events:
            await self.events.record("cache-cluster", cluster.cluster_id, message)
        return plan.sentences

    async def _ensure_running(self, cluster: Cluster, guard: bool = True) -> list[str]:
        """EnsureNode where a node's host runs it otherwise than wanted; guard: first make sure
        its hosts guard its port (a promotion's node runs where it ran, guarded already)."""
        calls = []
        for node in cluster.nodes.values():
            if node.status == NodeStatus.DELETING or not self.registry.has_reported(node.host_id) \
                    or self._dead_protected(cluster, node):
                continue
            reported = self._reported(cluster, node)
            built: tuple[agent_pb.NodeSpec, list[str]] | None = None
            if reported is not None and self._still_current(cluster, reported):
                current = True
            else:
                built = self._wanted(cluster, node, reported)
                current = reported is not None and spec_matches(reported.spec, built[0])
                if current and reported is not None:
                    self._remember_current(cluster, reported)
            if current and reported is not None:
                self._current[reported.node_key] = (cluster, reported)   # _node_status need not build it again
                if not self._retry_due(reported):
                    continue
            wanted, names = built or self._wanted(cluster, node, reported)
            if self.restorer is not None and self.restorer.pending(cluster):
                calls.append(self._restore(cluster, node))
                continue
            host = self.registry.hosts[node.host_id or ""]
            due = names and not wanted.transit_encryption.cert_pem and self.signer is not None
            calls.append(self._ensure_signed(host, wanted, names) if due else self._ensure(host, wanted))
        guarded = await self.firewall.guard(cluster) if calls and guard else []
        results = await asyncio.gather(*calls)
        return guarded + [r for r in results if r]

    async def _restore(self, cluster: Cluster, node: Node) -> str:
        """Fill the node's data directory from its snapshot before its first start, in a task
        beside the loop (a large download must not hold up failovers elsewhere)."""
        key = cluster.node_key(node.node_id)
        if key in self._restoring or self.restorer is None:
            return ""
        host = self.registry.hosts[node.host_id or ""]
        task = asyncio.create_task(self.restorer.restore(host.info.agent_endpoint, cluster, node.node_id,
                                                         cluster.node_version(node)), name=f"restore {key}")
        self._restoring[key] = task

        def done(_: asyncio.Task[None]) -> None:
            self._restoring.pop(key, None)
            self.wake()
        task.add_done_callback(done)
        return f"restoring {key} from {cluster.restore.source if cluster.restore else ''}"

    def _inputs(self) -> tuple[int, int, int]:
        """What every node's wanted spec depends on beyond its own cluster record, role and peers:
        the parameter groups, the users and user groups (each counted when their content changed,
        not at every store write: a fleet being filled writes all the time) and the hosts' endpoints."""
        return PARAMETER_CACHE.generation, self.access.generation, self.registry.version

    def _peer_records(self, cluster: Cluster) -> tuple[Cluster | None, ...]:
        """The records of the replicas a primary's spec names the agents of (where they run)."""
        return tuple(self._by_id.get(member) for member in self._role(cluster).peers)

    def _still_current(self, cluster: Cluster, reported: agent_pb.NodeState) -> bool:
        """The node was found running the spec wanted, and nothing that spec is built from has
        changed since: the same cluster record (Repository.shared's object), the same role, the
        same replicas' records, the same report of what runs, the same parameter groups, users
        and hosts. A TLS node is always looked at again (its certificate is renewed on time, not
        on a change)."""
        seen = self._verdicts.get(reported.node_key)
        return seen is not None and seen.inputs == self._inputs() and seen.cluster is cluster \
            and seen.role == self._role(cluster) and seen.running == reported.spec \
            and len(seen.peers) == len(peers := self._peer_records(cluster)) \
            and all(a is b for a, b in zip(seen.peers, peers))

    def _remember_current(self, cluster: Cluster, reported: agent_pb.NodeState) -> None:
        if not cluster.transit_encryption_mode:
            self._verdicts[reported.node_key] = Verdict(self._inputs(), cluster, self._role(cluster),
                                                        self._peer_records(cluster), reported.spec)

    def _retry_due(self, reported: agent_pb.NodeState) -> bool:
        """A stopped node is started at once; a failed one again every FAILED_RETRY_SECONDS."""
        due, due_at = retry_due(reported.status, self._retry_at.get(reported.node_key), time.monotonic())
        if due_at is None:
            self._retry_at.pop(reported.node_key, None)
        else:
            self._retry_at[reported.node_key] = due_at
        return due

    async def _ensure_signed(self, host: HostState, spec: agent_pb.NodeSpec, names: list[str]) -> str:
        """EnsureNode with a new certificate for the key the node's host keeps (made there now
        if it has none): a TLS node's first, or one due for renewal, taken without a restart."""
        assert self.signer is not None
        try:
            request = await self.agents.request_certificate(host.info.agent_endpoint, spec.node_key)
            spec.transit_encryption.cert_pem = self.signer.sign(request, spec.node_key, names)
        except grpc.aio.AioRpcError as exc:
            log.warning("certificate request failed", node_key=spec.node_key, host_id=host.host_id,
                        error=exc.details())
            return ""
        except CaError as exc:       # the agent answered something that is not a signing request
            log.warning("certificate not signed", node_key=spec.node_key, host_id=host.host_id, error=str(exc))
            return ""
        log.info("node certificate signed", node_key=spec.node_key, host_id=host.host_id, names=names)
        return await self._ensure(host, spec)

    async def _ensure(self, host: HostState, spec: agent_pb.NodeSpec) -> str:
        try:
            state = await self.agents.ensure_node(host.info.agent_endpoint, spec)
        except grpc.aio.AioRpcError as exc:
            log.warning("ensure failed", node_key=spec.node_key, host_id=host.host_id, error=exc.details())
            if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                self.registry.observe_node(host.host_id, agent_pb.NodeState(
                    node_key=spec.node_key, spec=spec, status=agent_pb.NODE_STATUS_FAILED, message=exc.details() or ""))
            return ""
        self.registry.observe_node(host.host_id, state)
        failpoint("reconcile.after_ensure")
        return f"ensured {spec.node_key} on {host.host_id}"

    async def _record_status(self, seen: Cluster) -> list[str]:
        """Move node and cluster statuses to what the agents report, with events. Worked out on
        the cluster as this cycle saw it first: only a change is written (through a fresh read),
        so a settled cluster costs the store nothing."""
        cluster_id = seen.cluster_id
        events: list[str] = []
        before: dict[str, NodeStatus] = {}

        def moves(c: Cluster) -> list[tuple[Node, NodeStatus, str]]:
            found = []
            for node in c.nodes.values():
                new, note = self._node_status(c, node)
                if new is not None and (new != node.status or note != node.message):
                    found.append((node, new, note))
            return found

        def settles(c: Cluster, moving: list[tuple[Node, NodeStatus, str]]) -> bool:
            after = {node.node_id: new for node, new, _ in moving}
            return c.status in SETTLED_EVENTS and not changes.upgrading(c) \
                and all(after.get(n.node_id, n.status) == NodeStatus.AVAILABLE for n in c.nodes.values())

        def settle(c: Cluster) -> bool:
            events.clear()
            before.clear()
            before.update({node_id: node.status for node_id, node in c.nodes.items()})
            moving = moves(c)
            changed = bool(moving)
            settled = settles(c, moving)
            for node, new, note in moving:
                events.extend(node_events(node, new, note))
                node.status, node.message = new, note
            if settled:
                events.append(SETTLED_EVENTS[c.status])
                c.status = ClusterStatus.AVAILABLE
                if c.maintenance_running:
                    events.append("Maintenance finished")
                    c.maintenance_running = False
                changed = True
            return changed
        moving = moves(seen)
        if moving or settles(seen, moving):
            cluster: Cluster | None = await self.repo.mutate(cluster_id, settle)
        else:
            cluster = seen
            before.update({node_id: node.status for node_id, node in seen.nodes.items()})
        for message in events:
            await self.events.record("cache-cluster", cluster_id, message)
            if cluster and cluster.replication_group_id and message.startswith("Finished recovery"):
                # The group recorded "Recovering cache nodes <member>-0001": its end goes there too
                # (not notified again: the member's event already reaches the group's webhook).
                await self.events.record("replication-group", cluster.replication_group_id,
                                         message.replace("nodes ", f"nodes {cluster_id}-", 1), notify=False)
        events_restart = []
        for message, unseen in self._engine_restarts(cluster, before) if cluster else []:
            if unseen and await self._said_before(cluster_id, message):
                continue
            await self.events.record("cache-cluster", cluster_id, message)
            events_restart.append(message)
        return [f"{cluster_id}: {m}" for m in events + events_restart]

    async def _said_before(self, cluster_id: str, message: str) -> bool:
        """Whether the cluster's events already say message (a coordinator before this one said it)."""
        return any(event.message == message for event in await self.events.query(source_identifier=cluster_id))

    def _node_status(self, cluster: Cluster, node: Node) -> tuple[NodeStatus | None, str]:
        """The status a node should show given its host's report (None: leave it)."""
        if node.status == NodeStatus.DELETING or not self.registry.is_live(node.host_id):
            return None, node.message
        reported = self._reported(cluster, node)
        role = self._role(cluster)
        seen = self._current.get(reported.node_key) if reported is not None else None
        current = reported is not None and (
            (seen is not None and seen[0] is cluster and seen[1] is reported)   # this cycle found it current
            or spec_matches(reported.spec, self._wanted(cluster, node, reported)[0]))
        return node_status(cluster, node, role, reported, True, current)

    def _engine_restarts(self, cluster: Cluster, before: dict[str, NodeStatus]) -> list[tuple[str, bool]]:
        """Events for engine processes that died and were started again, by their host or by us
        (before: each node's status before this cycle settled it), each with whether it is of a
        process this coordinator had not seen before (a previous one may have said it). A group
        primary with replicas has its group's events for that (decide_restart)."""
        messages = []
        for node in cluster.nodes.values():
            reported = self._reported(cluster, node)
            if reported is None:
                continue
            key = f"{node.host_id}/{cluster.node_key(node.node_id)}"
            replica = self._role(cluster).role == ReplicationRole.REPLICA
            unseen = False
            if cluster.engine == "redis" and not replica:
                run = self._runs_seen.get(key)
                unseen = run is None
                message = redis_restarted(node, run, reported, before.get(node.node_id, node.status))
                if unseen and self._role(cluster).peers:
                    message = ""
                if reported.HasField("loaded"):
                    self._runs_seen[key] = reported.loaded.run_id
            else:
                seen = self._restarts_seen.get(key)
                self._restarts_seen[key] = reported.restarts
                message = engine_restarted(node, seen, reported.restarts, replica)
            if message:
                messages.append((message, unseen))
        return messages

    # -- fleet-wide ----------------------------------------------------------------------------

    async def _sweep_orphans(self, clusters: list[Cluster]) -> list[str]:
        """Remove engines that hosts run but no cluster places there (left by a crash, a lost
        host, a user's move); decide_orphan says whether their data goes or is set aside.

        What a host reports decides how many calls it gets, so a host gets ORPHANS_PER_HOST
        removals a cycle at the most, all hosts' at once: one that reports thousands of nodes
        and lets each call run to its deadline holds the cycle up for one deadline, not
        thousands. What the answers say is then applied one by one, in the order asked."""
        by_id = {c.cluster_id: c for c in clusters}
        wanted = {(n.host_id, c.node_key(n.node_id)) for c in clusters for n in c.nodes.values() if n.host_id}
        chosen: list[tuple[HostState, RemoveEngine]] = []
        for host in self.registry.live():
            if not host.reported:
                continue
            orphans = [decide_orphan(host.host_id, key, by_id) for key in host.nodes if (host.host_id, key) not in wanted]
            chosen += [(host, action) for action in orphans if isinstance(action, RemoveEngine)][:ORPHANS_PER_HOST]
        replies = await asyncio.gather(*(self._remove_orphan(host, action) for host, action in chosen))
        actions = []
        for (host, action), reply in zip(chosen, replies):
            if reply is None:
                continue
            key = action.node_key
            self.registry.forget_node(host.host_id, key)
            actions.append(action.sentence)
            if reply.set_aside_path:
                message = action.set_aside_event(reply.set_aside_path)
                log.warning("node data set aside", node_key=key, host_id=host.host_id, path=reply.set_aside_path)
                await self.events.record("cache-cluster", action.cluster_id, message)
                actions.append(f"{action.cluster_id}: {message}")
            if action.discard:
                await self._moved(action)
        return actions

    async def _remove_orphan(self, host: HostState, action: RemoveEngine) -> agent_pb.RemoveNodeResponse | None:
        try:
            return await self.agents.remove_node(host.info.agent_endpoint, action.node_key, action.discard)
        except grpc.aio.AioRpcError as exc:
            log.warning("orphan removal failed", node_key=action.node_key, host_id=host.host_id, error=exc.details())
            return None

    async def _moved(self, action: RemoveEngine) -> None:
        """The old engine of a moved node is gone: the node no longer remembers where it was."""
        def forget(c: Cluster) -> bool:
            node = c.nodes.get(action.node_id)
            if node is None or node.moved_from != action.host_id:
                return False
            node.moved_from = ""
            return True
        try:
            await self.repo.mutate(action.cluster_id, forget)
        except ApiError:
            pass            # the cluster is gone: nothing left to remember

    async def _publish_dns(self, clusters: list[Cluster], groups: list[ReplicationGroup]) -> list[str]:
        """Every name of the fleet, from the records alone: the very lists synced last time (a
        cycle that wrote nothing) have nothing new to say, and 20,000 names are not built again."""
        if self._dns_synced is not None and self._dns_synced[0] is clusters and self._dns_synced[1] is groups:
            return []
        try:
            await self.dns.sync(desired_records(clusters, self.dns.zone, groups))
        except DnsError as exc:
            log.warning("dns update failed", error=str(exc))
            self._dns_synced = None
            return ["dns update failed"]
        self._dns_synced = (clusters, groups)
        return []


def _set_pending(cluster: Cluster, version: str) -> bool:
    """AutoMinorVersionUpgrade: a newer minor version became available; it is applied now,
    in the window, the way a pending EngineVersion change is."""
    if cluster.pending:
        return False
    cluster.pending = PendingChanges(engine_version=version)
    return True
