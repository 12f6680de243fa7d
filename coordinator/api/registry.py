"""The HostRegistry servicer: agents announce their host and report their nodes here."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc

from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from coordinator.api import host_claims
from coordinator.api.access import check_host_caller
from coordinator.api.cert_expiry import ExpiryWatch
from coordinator.api.errors import rpc_errors
from coordinator.domain import validation
from coordinator.domain.errors import ApiError, invalid
from coordinator.metrics.responsiveness import Responsiveness
from coordinator.state.registry import HostRegistry


# How long a heartbeat that arrives before the coordinator knows its primaries waits for the
# first reconcile cycle; past it the agent hears UNAVAILABLE and its failsafe carries on.
ROLES_WAIT_S = 0.5


class HostRegistryService(agent_grpc.HostRegistryServicer):
    """Heartbeats in, write leases out.

    A lease answer names the primaries that may take writes; one given before the coordinator
    has worked out its groups' roles would name none and fence every primary of the fleet (a
    restarted coordinator's first heartbeats). So with `roles_known`, a heartbeat waits for the
    first reconcile cycle, and is answered UNAVAILABLE rather than with an empty list."""

    def __init__(self, registry: HostRegistry, wake: Callable[[], None],
                 writable: Callable[[str], list[str]], roles_known: asyncio.Event | None = None,
                 expiry: ExpiryWatch | None = None, leads: Callable[[], bool] | None = None,
                 epoch: Callable[[], int] = lambda: 0, responsiveness: Responsiveness | None = None):
        self.registry = registry
        self.wake = wake
        self.writable = writable
        self.roles_known = roles_known
        self.expiry = expiry
        self.leads = leads   # several coordinators: only the leader takes heartbeats and grants leases
        self.epoch = epoch   # its leader epoch, in every answer: agents then refuse a deposed leader's calls
        self.responsiveness = responsiveness

    @rpc_errors
    async def Heartbeat(self, request: agent_pb.HeartbeatRequest, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        info = request.host
        if not info.host_id or not info.address or not info.agent_endpoint:
            raise invalid("A heartbeat must carry host_id, address and agent_endpoint.")
        validation.host_id(info.host_id)
        check_host_caller(info.host_id)
        if self.leads is not None and not self.leads():
            raise ApiError("NotLeader", "This coordinator does not lead: it grants no write lease; ask the leader.")
        certificates = ((context.auth_context() or {}).get("x509_pem_cert") if context is not None else None) or [None]
        certificate = certificates[0]
        host_claims.check_endpoint(info.agent_endpoint, certificate)
        host_claims.check_nodes(request.nodes)
        if self.expiry is not None:
            await self.expiry.presented(info.host_id, certificate)
        if await self.registry.heartbeat(info, list(request.nodes)):
            self.wake()
        if self.roles_known is not None and not self.roles_known.is_set():
            try:
                await asyncio.wait_for(self.roles_known.wait(), ROLES_WAIT_S)
            except TimeoutError:
                raise ApiError("ServiceUnavailable", "The coordinator is starting: it does not know its "
                               "primaries yet, so it grants no write lease; ask again.") from None
        pace = self.registry.grant(info.host_id)   # the interval and lease for the fleet's size, taken now
        if self.responsiveness is not None:
            self.responsiveness.answered(started)
        return agent_pb.HeartbeatResponse(heartbeat_interval_ms=round(pace.interval * 1000),
                                          lease_ms=int(pace.lease * 1000),
                                          writable_primaries=self.writable(info.host_id),
                                          leader_epoch=self.epoch())
