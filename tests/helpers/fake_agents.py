"""A hand-written fake of the node agent clients (coordinator.reconcile.agents.AgentClients), for
driving the reconciler in-process: it records every call and answers as a healthy host would.

Each simulated host keeps the specs it was asked to run. EnsureNode answers at once with the
node `starting`, as the real agent does; the engine serves from the host's next `serve()`. A
heartbeat request carries what the host runs, ready for HostRegistryService.Heartbeat:

    agents = FakeAgentClients()
    agents.add_host("h1", "10.0.0.1")
    ... a reconcile cycle ensures c1-0001 on h1 ...
    agents.serve("h1")
    await registry_service.Heartbeat(agents.heartbeat_request("h1"), None)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from cachefleet.v1 import cache_control_pb2 as control_pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from cachefleet.common.tls import nodecerts

ENGINES = (("memcached", "1.6.18"), ("redis", "7.0.15"))


@dataclass
class SimulatedHost:
    """What one agent runs: node key -> its state as the agent would report it."""
    info: agent_pb.HostInfo
    nodes: dict[str, agent_pb.NodeState] = field(default_factory=dict)
    discovery: agent_pb.SetDiscoveryRequest | None = None
    tls_keys: dict[str, bytes] = field(default_factory=dict)   # node key -> the TLS key made for it
    firewall: agent_pb.SetFirewallRequest | None = None
    firewall_unavailable: str = ""    # set: SetFirewall fails as on a host where nft cannot run

    @property
    def host_id(self) -> str:
        return self.info.host_id


def same_process(running: agent_pb.NodeSpec, wanted: agent_pb.NodeSpec) -> bool:
    """What a real agent changes without restarting the engine: everything but these."""
    fields = ("engine", "engine_version", "port", "bind_address", "max_memory_mb")
    return all(getattr(running, f) == getattr(wanted, f) for f in fields) \
        and wanted.reboot_generation <= running.reboot_generation and running.parameters == wanted.parameters


def ensure_on(host: SimulatedHost, spec: agent_pb.NodeSpec) -> agent_pb.NodeState:
    """EnsureNode as a healthy agent answers it: the node `starting`, or a running engine that
    takes a role, fence or guard change live; the answer is a copy (the coordinator learns of
    later changes by heartbeat only)."""
    current = host.nodes.get(spec.node_key)
    node = agent_pb.NodeState(node_key=spec.node_key, spec=spec, process_state="STARTING", pid=4242,
                              status=agent_pb.NODE_STATUS_STARTING)
    if current is not None:
        node.spec.reboot_generation = max(spec.reboot_generation, current.spec.reboot_generation)
        node.replication.CopyFrom(current.replication)
        if current.status == agent_pb.NODE_STATUS_AVAILABLE and same_process(current.spec, spec):
            node.status, node.healthy, node.process_state = current.status, current.healthy, current.process_state
            node.applied_max_memory_mb = current.applied_max_memory_mb
    node.replication.role = spec.role
    if spec.role == agent_pb.ROLE_PRIMARY:
        node.fenced = spec.write_fenced     # a real agent applies the fence before it answers
    host.nodes[spec.node_key] = node
    answer = agent_pb.NodeState()
    answer.CopyFrom(node)
    return answer


def remove_from(host: SimulatedHost, node_key: str, discard_data: bool) -> agent_pb.RemoveNodeResponse:
    """RemoveNode: a redis node's data is 'set aside' (a path is answered) unless discard_data."""
    node = host.nodes.pop(node_key, None)
    kept = node is not None and node.spec.engine == "redis" and not discard_data
    return agent_pb.RemoveNodeResponse(removed=node is not None,
                                       set_aside_path=f"/agents/{host.host_id}/set-aside/{node_key}-T" if kept else "")


class FirewallRefused(grpc.aio.AioRpcError):
    """What the coordinator gets from an agent that cannot run nft."""

    def __init__(self, why: str) -> None:
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(), grpc.aio.Metadata(),
                         details=f"FirewallUnavailable: {why}")


class FakeAgentClients:
    """The AgentClients methods the reconciler calls, on simulated hosts keyed by agent endpoint.

    Snapshots and restores are left out: the reconciler reaches them only through a restorer,
    which these cycles run without."""

    def __init__(self) -> None:
        self.hosts: dict[str, SimulatedHost] = {}         # agent endpoint -> host
        self.calls: list[tuple[str, str, str]] = []      # (method, host id, node key or "")
        self.removals: list[tuple[str, str, bool]] = []  # (host id, node key, discard_data)
        self.firewall_calls: list[str] = []               # host ids, one per SetFirewall

    def add_host(self, host_id: str, address: str, zone: str = "zone-a", memory_mb: int = 4096) -> SimulatedHost:
        info = agent_pb.HostInfo(
            host_id=host_id, address=address, agent_endpoint=f"{address}:7000", availability_zone=zone,
            memory_mb=memory_mb, agent_instance_id=f"{host_id}-1",
            engines=[control_pb.EngineInstall(engine=e, version=v, path=f"/usr/bin/{e}") for e, v in ENGINES])
        host = self.hosts[info.agent_endpoint] = SimulatedHost(info)
        return host

    def host(self, host_id: str) -> SimulatedHost:
        return next(h for h in self.hosts.values() if h.host_id == host_id)

    def calls_of(self, method: str) -> list[tuple[str, str]]:
        """(host id, node key) of every call of `method`, in order."""
        return [(host, key) for m, host, key in self.calls if m == method]

    # -- what the engines do on their own ----------------------------------------------------

    def serve(self, host_id: str) -> None:
        """Every engine the host is starting answers its health probe now."""
        for node in self.host(host_id).nodes.values():
            if node.status == agent_pb.NODE_STATUS_STARTING:
                node.status, node.healthy = agent_pb.NODE_STATUS_AVAILABLE, True
                node.applied_max_memory_mb = node.spec.max_memory_mb

    def fail(self, host_id: str, node_key: str, message: str) -> None:
        """The engine exited and its host gave up restarting it."""
        node = self.host(host_id).nodes[node_key]
        node.status, node.healthy, node.message, node.pid = agent_pb.NODE_STATUS_FAILED, False, message, 0

    def replicate(self, host_id: str, node_key: str, offset: int, link: agent_pb.LinkState) -> None:
        """What the engine's INFO replication says: its offset and its link to the primary."""
        node = self.host(host_id).nodes[node_key]
        node.replication.offset, node.replication.link_status = offset, link

    def lose_sight(self, host_id: str, node_key: str, unseen_ms: int) -> None:
        """The replica's agent has not reached its primary's engine for unseen_ms (a cut)."""
        replication = self.host(host_id).nodes[node_key].replication
        replication.primary_sight, replication.primary_unseen_ms = agent_pb.PRIMARY_SIGHT_SILENT, unseen_ms

    def heartbeat_request(self, host_id: str) -> agent_pb.HeartbeatRequest:
        host = self.host(host_id)
        return agent_pb.HeartbeatRequest(host=host.info, nodes=list(host.nodes.values()))

    # -- AgentClients ------------------------------------------------------------------------

    async def ensure_node(self, endpoint: str, spec: agent_pb.NodeSpec) -> agent_pb.NodeState:
        host = self.hosts[endpoint]
        self.calls.append(("ensure_node", host.host_id, spec.node_key))
        return ensure_on(host, spec)

    async def remove_node(self, endpoint: str, node_key: str, discard_data: bool) -> agent_pb.RemoveNodeResponse:
        """A redis node's data is 'set aside' (a path is answered) unless discard_data; the
        removals are in calls and, with their discard flag, in removals."""
        host = self.hosts[endpoint]
        self.calls.append(("remove_node", host.host_id, node_key))
        self.removals.append((host.host_id, node_key, discard_data))
        return remove_from(host, node_key, discard_data)

    async def set_firewall(self, endpoint: str,
                           request: agent_pb.SetFirewallRequest) -> agent_pb.SetFirewallResponse:
        """Kept on the host, not in `calls`: a firewall is pushed every cycle it changes."""
        host = self.hosts[endpoint]
        self.firewall_calls.append(host.host_id)
        if host.firewall_unavailable:
            raise FirewallRefused(host.firewall_unavailable)
        host.firewall = request
        return agent_pb.SetFirewallResponse()

    async def set_discovery(self, endpoint: str,
                            request: agent_pb.SetDiscoveryRequest) -> agent_pb.SetDiscoveryResponse:
        host = self.hosts[endpoint]
        self.calls.append(("set_discovery", host.host_id, ""))
        host.discovery = request
        return agent_pb.SetDiscoveryResponse()

    async def request_certificate(self, endpoint: str, node_key: str) -> str:
        """A signing request for the node's key, made the first time, as the agent does."""
        host = self.hosts[endpoint]
        self.calls.append(("request_certificate", host.host_id, node_key))
        key = host.tls_keys.setdefault(node_key, nodecerts.new_key_pem())
        return nodecerts.csr_pem(key, node_key)

    async def close(self) -> None:
        return None
