"""gRPC clients for the node agents, one channel per agent endpoint (mTLS with the
coordinator's certificate; its channels follow the files when they are rotated).

Every call carries the coordinator's leader epoch (cachefleet/common/leader_epoch.py) as
metadata: an agent that has seen a later leader's refuses it, so a deposed leader's late call
changes nothing."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from cachefleet.common.leader_epoch import metadata
from cachefleet.common.tls.transport import ChannelSource, Transport

CALL_TIMEOUT = 3.0


class AgentClients:
    def __init__(self, transport: Transport | None = None, epoch: Callable[[], int] = lambda: 0) -> None:
        self._transport = transport or Transport(None)
        self._channels: dict[str, ChannelSource] = {}
        self._epoch = epoch   # the leader epoch this coordinator acts in (0: SQLite, no election)

    async def _call(self, endpoint: str, rpc: str, request: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """One NodeAgent call, carrying the leader epoch read at the moment it is sent. The
        generated stub's calls are untyped, so every answer is cast to its message."""
        source = self._channels.get(endpoint)
        if source is None:
            source = self._channels[endpoint] = self._transport.dial(endpoint)
        stub = agent_grpc.NodeAgentStub(source.channel())  # type: ignore[no-untyped-call]
        return await getattr(stub, rpc)(request, timeout=timeout, metadata=metadata(self._epoch()))

    async def ensure_node(self, endpoint: str, spec: agent_pb.NodeSpec) -> agent_pb.NodeState:
        return cast(agent_pb.NodeState, await self._call(endpoint, "EnsureNode", agent_pb.EnsureNodeRequest(spec=spec)))

    async def request_certificate(self, endpoint: str, node_key: str) -> str:
        """A signing request for the TLS key the node's host keeps for it."""
        request = agent_pb.RequestNodeCertificateRequest(node_key=node_key)
        answer = await self._call(endpoint, "RequestNodeCertificate", request)
        return cast(agent_pb.RequestNodeCertificateResponse, answer).csr_pem

    async def remove_node(self, endpoint: str, node_key: str, discard_data: bool) -> agent_pb.RemoveNodeResponse:
        """discard_data only for a removal the user asked for: otherwise the host keeps the data aside."""
        request = agent_pb.RemoveNodeRequest(node_key=node_key, discard_data=discard_data)
        return cast(agent_pb.RemoveNodeResponse, await self._call(endpoint, "RemoveNode", request))

    async def set_discovery(self, endpoint: str, request: agent_pb.SetDiscoveryRequest) -> agent_pb.SetDiscoveryResponse:
        return cast(agent_pb.SetDiscoveryResponse, await self._call(endpoint, "SetDiscovery", request))

    async def set_firewall(self, endpoint: str, request: agent_pb.SetFirewallRequest) -> agent_pb.SetFirewallResponse:
        return cast(agent_pb.SetFirewallResponse, await self._call(endpoint, "SetFirewall", request))

    async def take_snapshot(self, endpoint: str, request: agent_pb.TakeSnapshotRequest,
                            timeout: float) -> agent_pb.SnapshotResult:
        return cast(agent_pb.SnapshotResult, await self._call(endpoint, "TakeSnapshot", request, timeout))

    async def restore_node_data(self, endpoint: str, request: agent_pb.RestoreNodeDataRequest,
                                timeout: float) -> agent_pb.RestoreNodeDataResponse:
        return cast(agent_pb.RestoreNodeDataResponse, await self._call(endpoint, "RestoreNodeData", request, timeout))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
