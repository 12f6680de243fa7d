"""Heartbeats to the coordinator's HostRegistry: the host and every node's state.

Sent every interval and at once when a node's status changes. A coordinator
that is down is retried forever; the agent and its engines carry on meanwhile.
Each answer renews the write lease (lease.py), counted from when the request
was sent; fencing does not wait on this loop (replication.py).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import structlog
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from cachefleet.common.tls.transport import Transport

from nodeagent.lease import Lease

log = structlog.get_logger("nodeagent.heartbeat")

# Reconnect quickly once the coordinator is back (gRPC's default backoff grows to 120 s).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
STILL_DOWN_LOG_EVERY = 30.0


class Heartbeater:
    def __init__(self, coordinator: str, host: node_agent_pb2.HostInfo,
                 nodes: Callable[[], list[node_agent_pb2.NodeState]], wake: asyncio.Event,
                 lease: Lease, on_lease: Callable[[], None], interval: float = 0.25,
                 deadline: float = 1.0, transport: Transport | None = None) -> None:
        self._transport = transport or Transport(None)
        self.coordinator = coordinator
        self.host = host
        self.interval = interval
        self._nodes = nodes
        self._wake = wake
        self._lease = lease
        self._on_lease = on_lease
        self._deadline = deadline
        self._attempted = asyncio.Event()   # the first heartbeat was answered or failed

    async def run(self) -> None:
        """Send heartbeats until cancelled."""
        source = self._transport.dial(self.coordinator, CHANNEL_OPTIONS)
        down_since: float | None = None
        last_logged = 0.0
        try:
            while True:
                self._wake.clear()
                request = node_agent_pb2.HeartbeatRequest(host=self.host, nodes=self._nodes())
                sent_at = time.monotonic()
                try:
                    stub = node_agent_pb2_grpc.HostRegistryStub(source.channel())
                    response = await stub.Heartbeat(request, timeout=self._deadline)
                except Exception as error:  # noqa: BLE001 - a heartbeat failure never stops the agent
                    now = time.monotonic()
                    if down_since is None or now - last_logged >= STILL_DOWN_LOG_EVERY:
                        log.warning("coordinator unreachable; retrying", coordinator=self.coordinator,
                                    error=_describe(error),
                                    down_for_s=round(now - (down_since or now), 1))
                        last_logged = now
                    down_since = down_since or now
                else:
                    if down_since is not None:
                        log.info("coordinator reachable", coordinator=self.coordinator,
                                 after_s=round(time.monotonic() - down_since, 1))
                        down_since = None
                    self._adopt_interval(response.heartbeat_interval_ms)
                    self._lease.granted(sent_at, response.lease_ms, response.writable_primaries)
                    self._on_lease()
                self._attempted.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                except TimeoutError:
                    pass
        finally:
            await source.close()

    async def first_answer(self, timeout: float) -> None:
        """Returns once the first heartbeat was answered or failed, or after timeout."""
        try:
            await asyncio.wait_for(self._attempted.wait(), timeout)
        except TimeoutError:
            pass

    def _adopt_interval(self, interval_ms: int) -> None:
        if interval_ms > 0 and interval_ms / 1000 != self.interval:
            log.info("heartbeat interval set by coordinator", interval_ms=interval_ms)
            self.interval = interval_ms / 1000


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"
