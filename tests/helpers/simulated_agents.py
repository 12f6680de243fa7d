"""Simulated node agents: many hosts in one process, for measuring the coordinator at scale.

Each simulated host is what the coordinator sees of a real one: its own gRPC server (mTLS with
its own host certificate from the fleet CA, on its own port of 127.0.0.1) serving NodeAgent, and
its own channel (with that certificate) heartbeating at the interval the coordinator answers.
It runs no engine: EnsureNode answers as a healthy agent does (the node `starting`), and the
"engine" serves a moment later, which the host reports at once by heartbeat, as a real agent
reports a change of health. A replica follows its primary (link up, primary seen).

Run as a worker process, one per slice of the fleet:

    python -m tests.helpers.simulated_agents CONFIG.json

CONFIG names the coordinator, the CA directory (tls.localfleet layout) and the hosts
({"host_id", "address", "zone"}). The worker prints JSON lines on stdout: {"ready": N} once every
host serves, {"promoted": NODE_KEY, "t": MONOTONIC} when a replica is told to become primary;
and takes JSON lines on stdin: {"cmd": "reset"} (forget the heartbeat latencies so far),
{"cmd": "stats"} (answered {"stats": {...}}), {"cmd": "fail", "primary": KEY, "replicas": [KEYS]}
(the primary's engine is gone: its host reports it failed, its replicas' hosts report the
connection refused, as real agents report data-plane evidence) and {"cmd": "stop"}.
Monotonic times are comparable between processes of one machine (CLOCK_MONOTONIC).

The NodeAgent calls are answered without the agent's own check that the caller is a
coordinator: the TLS handshake still requires a certificate of the fleet CA.
"""
from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from cachefleet.common.tls.credentials import channel_credentials
from cachefleet.common.tls.localfleet import FleetCaLayout
from cachefleet.v1 import cache_control_pb2 as control_pb
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from tests.helpers.fake_agents import ENGINES, SimulatedHost, ensure_on, remove_from

ENGINE_START_S = 0.05        # from EnsureNode to the simulated engine answering its probe
HEARTBEAT_TIMEOUT_S = 2.0
HOST_MEMORY_MB = 65536


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


@dataclass
class SimulatedAgent(agent_grpc.NodeAgentServicer):
    """One simulated host: its NodeAgent service and its heartbeat loop."""
    host: SimulatedHost
    credentials: grpc.ChannelCredentials
    coordinator: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    interval: float = 0.2
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- NodeAgent ---------------------------------------------------------------------------

    async def GetHostInfo(self, request: Any, context: Any) -> agent_pb.HostInfo:
        return self.host.info

    async def EnsureNode(self, request: agent_pb.EnsureNodeRequest, context: Any) -> agent_pb.NodeState:
        spec = request.spec
        before = self.host.nodes.get(spec.node_key)
        if spec.role == agent_pb.ROLE_PRIMARY and before is not None and before.spec.role == agent_pb.ROLE_REPLICA:
            emit({"promoted": spec.node_key, "t": time.monotonic()})
        answer = ensure_on(self.host, spec)
        node = self.host.nodes[spec.node_key]
        if spec.role == agent_pb.ROLE_REPLICA:
            node.replication.link_status = agent_pb.LINK_STATE_UP
            node.replication.primary_sight = agent_pb.PRIMARY_SIGHT_SEEN
            node.replication.primary_unseen_ms = 0
            node.replication.primary_host, node.replication.primary_port = spec.primary_address, spec.primary_port
        if node.status == agent_pb.NODE_STATUS_STARTING:
            asyncio.get_running_loop().call_later(ENGINE_START_S, self._serve, spec.node_key)
        return answer

    async def RemoveNode(self, request: agent_pb.RemoveNodeRequest, context: Any) -> agent_pb.RemoveNodeResponse:
        answer = remove_from(self.host, request.node_key, request.discard_data)
        self.changed.set()
        return answer

    async def ListNodes(self, request: Any, context: Any) -> agent_pb.ListNodesResponse:
        return agent_pb.ListNodesResponse(nodes=list(self.host.nodes.values()))

    async def ConfirmPrimary(self, request: agent_pb.ConfirmPrimaryRequest, context: Any) -> agent_pb.ConfirmPrimaryResponse:
        node = self.host.nodes.get(request.replica_node_key)
        confirmed = node is not None and node.spec.term == request.term \
            and node.replication.link_status == agent_pb.LINK_STATE_UP
        return agent_pb.ConfirmPrimaryResponse(confirmed=confirmed, reason="" if confirmed else "not following")

    async def SetDiscovery(self, request: Any, context: Any) -> agent_pb.SetDiscoveryResponse:
        self.host.discovery = request
        return agent_pb.SetDiscoveryResponse()

    async def SetFirewall(self, request: Any, context: Any) -> agent_pb.SetFirewallResponse:
        self.host.firewall = request
        return agent_pb.SetFirewallResponse()

    # -- the simulated engines ---------------------------------------------------------------

    def _serve(self, node_key: str) -> None:
        node = self.host.nodes.get(node_key)
        if node is not None and node.status == agent_pb.NODE_STATUS_STARTING:
            node.status, node.healthy, node.process_state = agent_pb.NODE_STATUS_AVAILABLE, True, "RUNNING"
            node.applied_max_memory_mb = node.spec.max_memory_mb
            node.probe_ok_unix_ms = int(time.time() * 1000)
            self.changed.set()

    def fail(self, primary: str, replicas: list[str]) -> int:
        """The primary's engine is gone: what this host's agent would report of it. Returns
        how many of the named nodes run here."""
        hit = 0
        node = self.host.nodes.get(primary)
        if node is not None:
            node.status, node.healthy, node.process_state, node.pid = agent_pb.NODE_STATUS_FAILED, False, "EXITED", 0
            node.message = "simulated: the engine exited"
            hit += 1
        for key in replicas:
            node = self.host.nodes.get(key)
            if node is not None:
                info = node.replication
                info.link_status, info.primary_sight, info.primary_unseen_ms = \
                    agent_pb.LINK_STATE_DOWN, agent_pb.PRIMARY_SIGHT_REFUSED, 100
                hit += 1
        if hit:
            self.changed.set()
        return hit

    # -- heartbeats --------------------------------------------------------------------------

    async def beat(self) -> None:
        """Heartbeat at the interval the coordinator answers, at once after a change."""
        channel = grpc.aio.secure_channel(self.coordinator, self.credentials)
        stub = agent_grpc.HostRegistryStub(channel)   # type: ignore[no-untyped-call]
        while True:
            self.changed.clear()
            request = agent_pb.HeartbeatRequest(host=self.host.info, nodes=list(self.host.nodes.values()))
            start = time.monotonic()
            try:
                answer = await stub.Heartbeat(request, timeout=HEARTBEAT_TIMEOUT_S)
                self.interval = answer.heartbeat_interval_ms / 1000 or self.interval
                self.latencies_ms.append((time.monotonic() - start) * 1000)
            except grpc.aio.AioRpcError:
                self.errors += 1
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, self.interval - (time.monotonic() - start)))
            except TimeoutError:
                pass


def host_info(host_id: str, address: str, zone: str, endpoint: str) -> agent_pb.HostInfo:
    return agent_pb.HostInfo(
        host_id=host_id, address=address, agent_endpoint=endpoint, availability_zone=zone,
        memory_mb=HOST_MEMORY_MB, agent_instance_id=f"{host_id}-simulated-{time.time_ns()}",
        agent_version="simulated",
        engines=[control_pb.EngineInstall(engine=e, version=v, path=f"/usr/bin/{e}") for e, v in ENGINES])


async def start_host(spec: dict[str, str], layout: FleetCaLayout, coordinator: str) -> tuple[SimulatedAgent, Any]:
    material = layout.host(spec["host_id"]).load()
    server = grpc.aio.server()
    credentials = grpc.ssl_server_credentials([(material.key_pem, material.cert_pem)],
                                              root_certificates=material.ca_pem, require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    info = host_info(spec["host_id"], spec["address"], spec["zone"], f"127.0.0.1:{port}")
    agent = SimulatedAgent(SimulatedHost(info), channel_credentials(material), coordinator)
    agent_grpc.add_NodeAgentServicer_to_server(agent, server)
    await server.start()
    return agent, server


async def answer_commands(agents: list[SimulatedAgent]) -> None:
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "stop":
            return
        if command["cmd"] == "reset":
            for agent in agents:
                agent.latencies_ms.clear()
                agent.errors = 0
            emit({"reset": True})
        elif command["cmd"] == "stats":
            emit({"stats": {"latencies_ms": [round(v, 3) for a in agents for v in a.latencies_ms],
                            "errors": sum(a.errors for a in agents)}})
        elif command["cmd"] == "fail":
            emit({"failed": sum(a.fail(command["primary"], command["replicas"]) for a in agents)})


async def run(config: dict[str, Any]) -> None:
    layout = FleetCaLayout(pathlib.Path(config["ca_root"]))
    started = [await start_host(spec, layout, config["coordinator"]) for spec in config["hosts"]]
    agents = [agent for agent, _ in started]
    beats = [asyncio.create_task(agent.beat()) for agent in agents]
    emit({"ready": len(agents)})
    try:
        await answer_commands(agents)
    finally:
        for task in beats:
            task.cancel()
        await asyncio.gather(*beats, return_exceptions=True)
        await asyncio.gather(*(server.stop(0) for _, server in started))


if __name__ == "__main__":
    asyncio.run(run(json.loads(pathlib.Path(sys.argv[1]).read_text())))
