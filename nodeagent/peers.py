"""The agent's calls to other agents: a replica's agent confirming a primary (failsafe).

One channel per peer endpoint, kept open: a failsafe round runs several times a second
while no coordinator answers, and must not pay for a new connection each time. Over mTLS
with the host's own certificate: the peer serves ConfirmPrimary to hosts of the fleet only.
"""
from __future__ import annotations

from cachefleet.common.tls.transport import ChannelSource, Transport
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from nodeagent.heartbeat import CHANNEL_OPTIONS


class PeerClients:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._channels: dict[str, ChannelSource] = {}

    async def confirm_primary(self, endpoint: str, request: node_agent_pb2.ConfirmPrimaryRequest,
                              timeout: float) -> node_agent_pb2.ConfirmPrimaryResponse:
        if endpoint not in self._channels:
            self._channels[endpoint] = self._transport.dial(endpoint, CHANNEL_OPTIONS)
        stub = node_agent_pb2_grpc.NodeAgentStub(self._channels[endpoint].channel())
        response: node_agent_pb2.ConfirmPrimaryResponse = await stub.ConfirmPrimary(request, timeout=timeout)
        return response

    async def close(self) -> None:
        for source in self._channels.values():
            await source.close()
        self._channels.clear()
