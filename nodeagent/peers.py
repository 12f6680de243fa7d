"""The agent's calls to other agents: a replica's agent confirming a primary (failsafe).

One channel per peer endpoint, kept open: a failsafe round runs several times a second
while no coordinator answers, and must not pay for a new connection each time.
"""
from __future__ import annotations

import grpc
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from nodeagent.heartbeat import CHANNEL_OPTIONS


class PeerClients:
    def __init__(self) -> None:
        self._channels: dict[str, tuple[grpc.aio.Channel, node_agent_pb2_grpc.NodeAgentStub]] = {}

    async def confirm_primary(self, endpoint: str, request: node_agent_pb2.ConfirmPrimaryRequest,
                              timeout: float) -> node_agent_pb2.ConfirmPrimaryResponse:
        if endpoint not in self._channels:
            channel = grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
            self._channels[endpoint] = (channel, node_agent_pb2_grpc.NodeAgentStub(channel))
        _, stub = self._channels[endpoint]
        response: node_agent_pb2.ConfirmPrimaryResponse = await stub.ConfirmPrimary(request, timeout=timeout)
        return response

    async def close(self) -> None:
        for channel, _ in self._channels.values():
            await channel.close()
        self._channels.clear()
