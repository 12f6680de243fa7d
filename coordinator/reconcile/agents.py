"""gRPC clients for the node agents, one channel per agent endpoint (mTLS with the
coordinator's certificate; its channels follow the files when they are rotated)."""
from __future__ import annotations

from typing import Any, cast

from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from cachefleet.common.tls.transport import ChannelSource, Transport

CALL_TIMEOUT = 3.0


class AgentClients:
    def __init__(self, transport: Transport | None = None) -> None:
        self._transport = transport or Transport(None)
        self._channels: dict[str, ChannelSource] = {}

    def _stub(self, endpoint: str) -> Any:
        """The generated stub: its calls are untyped, so every answer is cast to its message."""
        source = self._channels.get(endpoint)
        if source is None:
            source = self._channels[endpoint] = self._transport.dial(endpoint)
        return agent_grpc.NodeAgentStub(source.channel())  # type: ignore[no-untyped-call]

    async def ensure_node(self, endpoint: str, spec: agent_pb.NodeSpec) -> agent_pb.NodeState:
        return cast(agent_pb.NodeState, await self._stub(endpoint).EnsureNode(agent_pb.EnsureNodeRequest(spec=spec),
                                                                             timeout=CALL_TIMEOUT))

    async def request_certificate(self, endpoint: str, node_key: str) -> str:
        """A signing request for the TLS key the node's host keeps for it."""
        request = agent_pb.RequestNodeCertificateRequest(node_key=node_key)
        answer = await self._stub(endpoint).RequestNodeCertificate(request, timeout=CALL_TIMEOUT)
        return cast(agent_pb.RequestNodeCertificateResponse, answer).csr_pem

    async def remove_node(self, endpoint: str, node_key: str, discard_data: bool) -> agent_pb.RemoveNodeResponse:
        """discard_data only for a removal the user asked for: otherwise the host keeps the data aside."""
        request = agent_pb.RemoveNodeRequest(node_key=node_key, discard_data=discard_data)
        return cast(agent_pb.RemoveNodeResponse, await self._stub(endpoint).RemoveNode(request, timeout=CALL_TIMEOUT))

    async def set_discovery(self, endpoint: str, request: agent_pb.SetDiscoveryRequest) -> agent_pb.SetDiscoveryResponse:
        return cast(agent_pb.SetDiscoveryResponse, await self._stub(endpoint).SetDiscovery(request, timeout=CALL_TIMEOUT))

    async def set_firewall(self, endpoint: str, request: agent_pb.SetFirewallRequest) -> agent_pb.SetFirewallResponse:
        return cast(agent_pb.SetFirewallResponse, await self._stub(endpoint).SetFirewall(request, timeout=CALL_TIMEOUT))

    async def take_snapshot(self, endpoint: str, request: agent_pb.TakeSnapshotRequest,
                            timeout: float) -> agent_pb.SnapshotResult:
        return cast(agent_pb.SnapshotResult, await self._stub(endpoint).TakeSnapshot(request, timeout=timeout))

    async def restore_node_data(self, endpoint: str, request: agent_pb.RestoreNodeDataRequest,
                                timeout: float) -> agent_pb.RestoreNodeDataResponse:
        return cast(agent_pb.RestoreNodeDataResponse,
                    await self._stub(endpoint).RestoreNodeData(request, timeout=timeout))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
