"""One connection to an etcd cluster: its members' endpoints, mutual TLS, deadlines, and every
failure turned into StoreError.

A channel per member, made on first use inside the event loop; calls go to the current member.
A member that does not answer (UNAVAILABLE, DEADLINE_EXCEEDED) makes the next call go to the
next one. Reads are tried on each member in turn at once. A write is tried on the next member
only when gRPC could not even connect to this one, so it was never sent (etcd's own client
retries mutations on that ground alone): a write whose answer was lost may have been applied,
and a compare-and-set sent again would report a conflict with itself; the caller reads again
and decides.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import structlog

from cachefleet.common.tls.files import CredentialError, CredentialFiles
from cachefleet.common.tls.transport import ChannelSource, Transport
from cachefleet.etcd import rpc_pb2, rpc_pb2_grpc
from coordinator.state.store.base import StoreError

log = structlog.get_logger("etcd")

DEFAULT_TIMEOUT = 5.0
# a member that does not answer: try the next one
_MOVE_ON = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# how gRPC says a call failed before any connection existed to send it on
_NEVER_SENT = "failed to connect to all addresses"


def never_sent(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() == grpc.StatusCode.UNAVAILABLE and (exc.details() or "").startswith(_NEVER_SENT)


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], *, tls: CredentialFiles | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        if not endpoints:
            raise StoreError("etcd: no endpoint given")
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self._transport = Transport(tls)
        self._channels: dict[str, ChannelSource] = {}
        self._current = 0

    @property
    def secure(self) -> bool:
        return self._transport.secure

    def _channel(self, endpoint: str) -> grpc.aio.Channel:
        if endpoint not in self._channels:
            try:
                self._channels[endpoint] = self._transport.dial(endpoint)
            except (OSError, CredentialError) as exc:
                raise StoreError(f"etcd {endpoint}: cannot use the TLS files: {exc}") from None
        return self._channels[endpoint].channel()

    def stub(self, service: str) -> tuple[str, Any]:
        """(endpoint, stub of service) on the current member."""
        endpoint = self.endpoints[self._current]
        return endpoint, getattr(rpc_pb2_grpc, f"{service}Stub")(self._channel(endpoint))

    def failed(self, endpoint: str, exc: grpc.aio.AioRpcError) -> StoreError:
        """The StoreError for exc; moves on to the next member when this one did not answer."""
        if exc.code() in _MOVE_ON and self.endpoints[self._current] == endpoint and len(self.endpoints) > 1:
            self._current = (self._current + 1) % len(self.endpoints)
            log.warning("etcd member not answering, moving on", endpoint=endpoint,
                        next=self.endpoints[self._current], code=exc.code().name)
        return StoreError(f"etcd {endpoint}: {exc.code().name}: {exc.details()}")

    async def call(self, service: str, method: str, request: Any, *, read: bool = False) -> Any:
        """service.method(request) with the deadline, tried on every member in turn while they do
        not answer (a write: while it could not be sent)."""
        error: StoreError | None = None
        for _ in range(len(self.endpoints)):
            endpoint, stub = self.stub(service)
            try:
                return await getattr(stub, method)(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                error = self.failed(endpoint, exc)
                if exc.code() not in _MOVE_ON or not (read or never_sent(exc)):
                    break
        assert error is not None
        raise error

    async def txn(self, request: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        return await self.call("KV", "Txn", request)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for source in channels:
            await source.close(None)
