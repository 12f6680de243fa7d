"""The NodeAgent gRPC service: thin handlers over NodeManager, errors mapped in one place."""
from __future__ import annotations

import asyncio
import functools
from typing import Any, TypeVar
from collections.abc import Awaitable, Callable

import grpc
import structlog
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from nodeagent.discovery import DiscoveryServer
from nodeagent.failsafe import confirm
from nodeagent.firewall import HostFirewall
from nodeagent.errors import AgentError, FailedPrecondition, InvalidArgument
from nodeagent.nodes import NodeManager
from nodeagent.supervisor import SupervisorError, SupervisorUnavailable

log = structlog.get_logger("nodeagent.service")

Response = TypeVar("Response")

# Most specific first: the first matching class decides the status code.
STATUS_OF: list[tuple[type[Exception], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (AgentError, grpc.StatusCode.INTERNAL),
    (SupervisorUnavailable, grpc.StatusCode.UNAVAILABLE),
    (SupervisorError, grpc.StatusCode.INTERNAL),
]


def status_for(error: Exception) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and the message (error code first) that a caller gets for error."""
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            if isinstance(error, AgentError):
                return code, str(error)
            return code, f"{type(error).__name__}: {error}"
    return grpc.StatusCode.INTERNAL, "InternalFailure: unexpected error in the node agent (see its log)"


def grpc_errors(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Turn domain errors into gRPC statuses; an unexpected error is logged, never sent as a trace."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Response:
        try:
            return await handler(self, request, context)
        except Exception as error:  # noqa: BLE001 - this is the one place errors are mapped
            code, message = status_for(error)
            if code is grpc.StatusCode.INTERNAL:
                log.exception("request failed", rpc=handler.__name__)
            else:
                log.info("request rejected", rpc=handler.__name__, code=code.name, message=message)
            await context.abort(code, message)
            raise  # unreachable: abort raises

    return wrapper


class NodeAgentService(node_agent_pb2_grpc.NodeAgentServicer):
    def __init__(self, nodes: NodeManager, host: node_agent_pb2.HostInfo,
                 discovery: DiscoveryServer | None = None, firewall: HostFirewall | None = None) -> None:
        self._nodes = nodes
        self._host = host
        self._discovery = discovery
        self._firewall = firewall
        self._firewall_lock = asyncio.Lock()   # one transaction at a time, in the order sent

    @grpc_errors
    async def GetHostInfo(self, request: node_agent_pb2.GetHostInfoRequest,
                          context: grpc.aio.ServicerContext) -> node_agent_pb2.HostInfo:
        return self._host

    @grpc_errors
    async def EnsureNode(self, request: node_agent_pb2.EnsureNodeRequest,
                         context: grpc.aio.ServicerContext) -> node_agent_pb2.NodeState:
        if not request.HasField("spec"):
            raise InvalidArgument("spec is required")
        with structlog.contextvars.bound_contextvars(node_key=request.spec.node_key):
            return await self._nodes.ensure(request.spec)

    @grpc_errors
    async def RemoveNode(self, request: node_agent_pb2.RemoveNodeRequest,
                         context: grpc.aio.ServicerContext) -> node_agent_pb2.RemoveNodeResponse:
        with structlog.contextvars.bound_contextvars(node_key=request.node_key):
            removed, set_aside = await self._nodes.remove(request.node_key, request.discard_data)
            return node_agent_pb2.RemoveNodeResponse(removed=removed, set_aside_path=set_aside)

    @grpc_errors
    async def ConfirmPrimary(self, request: node_agent_pb2.ConfirmPrimaryRequest,
                             context: grpc.aio.ServicerContext) -> node_agent_pb2.ConfirmPrimaryResponse:
        view = self._nodes.monitor.view(request.replica_node_key)
        return confirm(view.spec if view else None, view.replication if view else None, request)

    @grpc_errors
    async def ListNodes(self, request: node_agent_pb2.ListNodesRequest,
                        context: grpc.aio.ServicerContext) -> node_agent_pb2.ListNodesResponse:
        return node_agent_pb2.ListNodesResponse(nodes=self._nodes.list())

    @grpc_errors
    async def TakeSnapshot(self, request: node_agent_pb2.TakeSnapshotRequest,
                           context: grpc.aio.ServicerContext) -> node_agent_pb2.SnapshotResult:
        with structlog.contextvars.bound_contextvars(node_key=request.node_key):
            return await self._nodes.snapshots.take(request)

    @grpc_errors
    async def RestoreNodeData(self, request: node_agent_pb2.RestoreNodeDataRequest,
                              context: grpc.aio.ServicerContext) -> node_agent_pb2.RestoreNodeDataResponse:
        with structlog.contextvars.bound_contextvars(node_key=request.node_key):
            return await self._nodes.snapshots.restore(request)

    @grpc_errors
    async def RequestNodeCertificate(
            self, request: node_agent_pb2.RequestNodeCertificateRequest,
            context: grpc.aio.ServicerContext) -> node_agent_pb2.RequestNodeCertificateResponse:
        with structlog.contextvars.bound_contextvars(node_key=request.node_key):
            csr = await self._nodes.certificate_request(request.node_key)
            return node_agent_pb2.RequestNodeCertificateResponse(csr_pem=csr)

    @grpc_errors
    async def SetDiscovery(self, request: node_agent_pb2.SetDiscoveryRequest,
                           context: grpc.aio.ServicerContext) -> node_agent_pb2.SetDiscoveryResponse:
        if self._discovery is None:
            raise FailedPrecondition("this agent serves no discovery endpoints")
        for endpoint in request.endpoints:
            if not endpoint.bind_address or not 0 < endpoint.port < 65536:
                raise InvalidArgument(
                    f"discovery endpoint of {endpoint.cache_cluster_id!r} needs an address and a port")
        return await self._discovery.set(request)

    @grpc_errors
    async def SetFirewall(self, request: node_agent_pb2.SetFirewallRequest,
                          context: grpc.aio.ServicerContext) -> node_agent_pb2.SetFirewallResponse:
        if self._firewall is None:
            raise FailedPrecondition("this agent enforces no firewall", code="FirewallUnavailable")
        async with self._firewall_lock:
            return await self._firewall.set(request)
