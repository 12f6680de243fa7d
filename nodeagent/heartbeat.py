"""Heartbeats to the coordinator's HostRegistry: the host and every node's state.

Sent every interval and at once when a node's status changes. A coordinator
that is down is retried forever (the next of several after each failure,
coordinators.py); the agent and its engines carry on meanwhile.
Each answer renews the write lease (lease.py), counted from when the request
was sent; fencing does not wait on this loop (replication.py). An answer from a
deposed leader (a lower leader epoch than the agent has seen, epoch.py) grants
nothing: it counts as a failure and the next coordinator is asked.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import structlog
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc

from nodeagent.coordinators import Coordinators, named_leader
from nodeagent.epoch import EpochBook
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
    def __init__(self, coordinators: Coordinators, host: node_agent_pb2.HostInfo,
                 nodes: Callable[[], list[node_agent_pb2.NodeState]], wake: asyncio.Event,
                 lease: Lease, on_lease: Callable[[], None], interval: float = 0.25,
                 deadline: float = 1.0, epochs: EpochBook | None = None) -> None:
        self.coordinators = coordinators
        self.host = host
        self.interval = interval
        self._nodes = nodes
        self._wake = wake
        self._lease = lease
        self._on_lease = on_lease
        self._deadline = deadline
        self._epochs = epochs or EpochBook()
        self._attempted = asyncio.Event()   # the first heartbeat was answered or failed

    async def run(self) -> None:
        """Send heartbeats until cancelled (the caller closes the coordinators' channels)."""
        down_since: float | None = None
        last_logged = 0.0
        tried = 0   # coordinators tried since the last answer: the next is asked at once, until all were
        while True:
            self._wake.clear()
            request = node_agent_pb2.HeartbeatRequest(host=self.host, nodes=self._nodes())
            sent_at = time.monotonic()
            endpoint, channel = self.coordinators.channel()
            try:
                response = await node_agent_pb2_grpc.HostRegistryStub(channel).Heartbeat(
                    request, timeout=self._deadline)
                verdict = self._epochs.admit(response.leader_epoch)
                if not verdict.accepted:
                    raise StaleLeaderAnswer(verdict.why)
            except Exception as error:  # noqa: BLE001 - a heartbeat failure never stops the agent
                moved = not _starting(error) and self.coordinators.failed(endpoint, named_leader(error))
                tried = tried + 1 if moved else 0
                now = time.monotonic()
                if down_since is None or now - last_logged >= STILL_DOWN_LOG_EVERY:
                    log.warning("coordinator unreachable; retrying", coordinator=endpoint,
                                error=_describe(error),
                                down_for_s=round(now - (down_since or now), 1))
                    last_logged = now
                down_since = down_since or now
            else:
                if down_since is not None:
                    log.info("coordinator reachable", coordinator=endpoint,
                             after_s=round(time.monotonic() - down_since, 1))
                    down_since = None
                self._adopt_interval(response.heartbeat_interval_ms)
                self._lease.granted(sent_at, response.lease_ms, response.writable_primaries)
                self._on_lease()
                tried = 0
            self._attempted.set()
            if 0 < tried < len(self.coordinators.endpoints):
                continue
            tried = 0
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

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


class StaleLeaderAnswer(Exception):
    """A heartbeat answered by a deposed leader: its lease is not taken."""

    def __init__(self, why: str) -> None:
        super().__init__(f"StaleLeader: {why}")


def _starting(error: Exception) -> bool:
    """The coordinator answered that it cannot grant a lease yet (it leads, and is starting):
    stay with it rather than try another (one that did not answer, or said it does not lead)."""
    return (isinstance(error, grpc.aio.AioRpcError) and error.code() == grpc.StatusCode.UNAVAILABLE
            and (error.details() or "").startswith("ServiceUnavailable:"))


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"
