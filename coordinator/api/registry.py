"""The HostRegistry servicer: agents announce their host and report their nodes here."""
from __future__ import annotations

from collections.abc import Callable

import grpc

from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import invalid
from coordinator.state.registry import HostRegistry


class HostRegistryService(agent_grpc.HostRegistryServicer):
    def __init__(self, registry: HostRegistry, wake: Callable[[], None], heartbeat_interval: float,
                 lease: float, writable: Callable[[str], list[str]]):
        self.registry = registry
        self.wake = wake
        self.heartbeat_interval_ms = int(heartbeat_interval * 1000)
        self.lease_ms = int(lease * 1000)
        self.writable = writable

    @rpc_errors
    async def Heartbeat(self, request: agent_pb.HeartbeatRequest, context: grpc.aio.ServicerContext):
        info = request.host
        if not info.host_id or not info.address or not info.agent_endpoint:
            raise invalid("A heartbeat must carry host_id, address and agent_endpoint.")
        if await self.registry.heartbeat(info, list(request.nodes)):
            self.wake()
        return agent_pb.HeartbeatResponse(heartbeat_interval_ms=self.heartbeat_interval_ms, lease_ms=self.lease_ms,
                                          writable_primaries=self.writable(info.host_id))
