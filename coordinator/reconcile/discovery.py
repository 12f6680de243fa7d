"""memcached Auto Discovery, the coordinator's half: what each configuration endpoint says.

Every memcached cluster's node list (`host|ip|port`, sorted by host name) is kept on its
record with a version that starts at 1 and goes up by one at every change (a node added,
removed, moved to another address), so a coordinator restart never sends a version back.
Each host is then told, as one idempotent SetDiscovery, every configuration endpoint it
must serve: one per node of a memcached cluster it holds, at that node's address and the
cluster's configuration port, which is what `<cluster>.cfg.<zone>` resolves to. Losing a
host loses only its own listeners. The agent keeps the set on disk; the coordinator sends
it again whenever it differs from what that agent instance last took.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.reconcile.agents import AgentClients
from coordinator.reconcile.host_push import LevelPush
from coordinator.state.repos import ClusterRepo
from coordinator.domain.dnsnames import node_name
from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster, ClusterStatus, NodeStatus
from coordinator.domain.placement import Slot, choose_config_port, host_views
from coordinator.state.registry import HostRegistry, HostState

log = structlog.get_logger("discovery")


def node_list(cluster: Cluster, zone: str) -> list[str] | None:
    """The `host|ip|port` entries the cluster's configuration endpoint lists, sorted by host
    name; None while there is nothing to publish yet (its first nodes are still being created).

    A node is listed once it has served (not `creating`) until it is being removed (`deleting`).
    """
    if cluster.engine != "memcached" or cluster.status == ClusterStatus.DELETING:
        return None
    nodes = [n for n in cluster.nodes.values()
             if n.address and n.status not in (NodeStatus.CREATING, NodeStatus.DELETING)]
    if not nodes or (cluster.status == ClusterStatus.CREATING
                     and any(n.status == NodeStatus.CREATING for n in cluster.nodes.values())):
        return None
    entries = [(node_name(cluster.cluster_id, n.node_id, zone), n.address) for n in nodes]
    return [f"{host}|{ip}|{cluster.port}" for host, ip in sorted(entries)]


def advance(cluster: Cluster, zone: str) -> bool:
    """Record the cluster's current node list, one version up, if it changed (a repo.mutate step)."""
    listed = node_list(cluster, zone)
    if listed is None or listed == cluster.discovery_nodes:
        return False
    cluster.discovery_nodes = listed
    cluster.discovery_version += 1
    return True


def endpoints_by_host(clusters: list[Cluster]) -> dict[str, list[agent_pb.DiscoveryEndpoint]]:
    """host id -> the configuration endpoints it must serve: one per node of a published
    memcached cluster placed there (creating ones too: the cfg name resolves to them)."""
    wanted: dict[str, list[agent_pb.DiscoveryEndpoint]] = {}
    for cluster in clusters:
        if cluster.engine != "memcached" or cluster.status == ClusterStatus.DELETING \
                or not cluster.discovery_version or not cluster.config_port:
            continue
        nodes = []
        for entry in cluster.discovery_nodes:
            host, ip, port = entry.split("|")
            nodes.append(agent_pb.DiscoveryNode(host=host, ip=ip, port=int(port)))
        for node in cluster.nodes.values():
            if node.status == NodeStatus.DELETING or not node.host_id or not node.address:
                continue
            wanted.setdefault(node.host_id, []).append(agent_pb.DiscoveryEndpoint(
                cache_cluster_id=cluster.cluster_id, bind_address=node.address, port=cluster.config_port,
                version=cluster.discovery_version, engine_version=cluster.engine_version, nodes=nodes,
                # a TLS cluster's endpoint answers over TLS, with this node's certificate
                tls_node_key=cluster.node_key(node.node_id) if cluster.transit_encryption_mode else ""))
    for endpoints in wanted.values():
        endpoints.sort(key=lambda e: (e.bind_address, e.port))
    return wanted


class Discovery:
    """Keeps versions in the store and every live host's listeners in line with them."""

    def __init__(self, repo: ClusterRepo, registry: HostRegistry, agents: AgentClients, zone: str,
                 clock: Callable[[], float] = time.monotonic):
        self.repo = repo
        self.registry = registry
        self.agents = agents
        self.zone = zone
        self.pushes = LevelPush(clock)
        self._quiet_after: tuple[list[Cluster], int] | None = None   # (clusters, hosts version) of a pass that did nothing

    async def run_cycle(self, clusters: list[Cluster]) -> list[str]:
        """One reconciler cycle's worth: versions recorded, then hosts told. Returns its actions.
        The very list of the last cycle, which changed nothing, with the same hosts and no push
        to retry, has nothing new to say."""
        inputs = (clusters, self.registry.version)
        if self._quiet_after is not None and self._quiet_after[0] is clusters \
                and self._quiet_after[1] == inputs[1] and not self.pushes.retrying():
            return []
        self._quiet_after = None
        actions = await self._run_cycle(clusters)
        if not actions:
            self._quiet_after = inputs
        return actions

    async def _run_cycle(self, clusters: list[Cluster]) -> list[str]:
        actions: list[str] = []
        current = []
        for cluster in clusters:
            if cluster.engine == "memcached" and cluster.status != ClusterStatus.DELETING:
                try:
                    if not cluster.config_port:
                        cluster = await self._adopt_port(cluster.cluster_id) or cluster
                    if node_list(cluster, self.zone) not in (None, cluster.discovery_nodes):
                        cluster = await self.repo.mutate(cluster.cluster_id, lambda c: advance(c, self.zone))
                        actions.append(f"{cluster.cluster_id}: discovery version {cluster.discovery_version}")
                except ApiError as exc:   # deleted meanwhile, or no port free: the next cycle sees
                    log.warning("discovery update skipped", cache_cluster_id=cluster.cluster_id, error=str(exc))
            current.append(cluster)
        actions += await self._push(endpoints_by_host(current))
        return actions

    async def _adopt_port(self, cluster_id: str) -> Cluster | None:
        """A memcached cluster recorded before configuration ports existed gets one now."""
        async with self.repo.placement_lock:
            clusters = await self.repo.all()
            cluster = next((c for c in clusters if c.cluster_id == cluster_id), None)
            if cluster is None or cluster.config_port:
                return cluster
            views = host_views(self.registry.live(), clusters)
            slots = [Slot(views[n.host_id], n.address) for n in cluster.nodes.values()
                     if n.host_id in views and n.address]
            port = choose_config_port(views, cluster.port, slots)

            def set_port(c: Cluster) -> bool:
                if c.config_port:
                    return False
                c.config_port = port
                return True
            return await self.repo.mutate(cluster_id, set_port)

    async def _push(self, wanted: dict[str, list[agent_pb.DiscoveryEndpoint]]) -> list[str]:
        return await self.pushes.send(
            self.registry.live(), lambda host: agent_pb.SetDiscoveryRequest(endpoints=wanted.get(host.host_id, [])),
            self._push_one)

    async def _push_one(self, host: HostState, request: agent_pb.SetDiscoveryRequest, sent: tuple[str, bytes]) -> str:
        host_id = host.host_id
        try:
            reply = await self.agents.set_discovery(host.info.agent_endpoint, request)
        except grpc.aio.AioRpcError as exc:
            log.warning("discovery push failed", host_id=host_id, error=exc.details())
            self.pushes.failed(host_id)
            return ""
        if reply.failed:
            log.warning("discovery endpoints cannot listen", host_id=host_id, failed=list(reply.failed))
            self.pushes.failed(host_id)
            return f"discovery on {host_id}: cannot listen on {', '.join(reply.failed)}"
        self.pushes.taken(host_id, sent)
        return f"discovery endpoints set on {host_id} ({len(request.endpoints)})"
