"""Failsafe: primaries stay writable while no coordinator answers, if their replicas agree.

Patroni's DCS failsafe mode, for our leases. When the coordinator has not renewed the
write lease for half its length (paused, restarting, cut off), the agent asks, for each
primary it may write, every replica's agent (ConfirmPrimary) whether that replica still
follows this primary in this term and sees its engine. When all confirm, the primary's
lease is extended by the coordinator's lease length, counted from when the questions were
sent. Why this is safe: the coordinator promotes a replica only when the replicas report
that they no longer reach the primary's engine, and a replica that does not reach it (or
was told of a newer term) refuses to confirm; the coordinator then also waits out the
engine's own write guard, which is longer than one extension.

A primary whose group has no replica to ask is extended at once: nothing can be promoted
in its place. Standalone nodes have no lease at all.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent.enums import Role
from nodeagent.lease import Lease

log = structlog.get_logger("nodeagent.failsafe")

Ask = Callable[[str, node_agent_pb2.ConfirmPrimaryRequest, float], Awaitable[node_agent_pb2.ConfirmPrimaryResponse]]


class Failsafe:
    def __init__(self, lease: Lease, specs: Callable[[], Sequence[node_agent_pb2.NodeSpec]], address: str,
                 ask: Ask, on_lease: Callable[[], None], interval: float = 0.2, timeout: float = 0.3) -> None:
        self._lease = lease
        self._specs = specs
        self._address = address          # the host's main address, where primaries without one bind
        self._ask = ask
        self._on_lease = on_lease
        self.interval = interval
        self.timeout = timeout
        self._refused: dict[str, str] = {}   # node key -> why its replicas did not confirm (logged once)
        self._extending: set[str] = set()    # primaries kept writable by their replicas' word

    async def run(self) -> None:
        while True:
            if self._lease.overdue():
                await self.renew()
            elif self._extending:
                log.info("failsafe: the coordinator renews the lease again", primaries=sorted(self._extending))
                self._extending.clear()
            await asyncio.sleep(self.interval)

    async def renew(self) -> None:
        """One round: ask every replica of every authorized primary; extend the confirmed ones."""
        if self._lease.length <= 0:
            return                        # no coordinator ever granted a lease: nothing to keep
        primaries = [spec for spec in self._specs() if Role.of(spec.role) is Role.PRIMARY
                     and not spec.write_fenced and spec.node_key in self._lease.authorized]
        if not primaries:
            return
        sent_at = time.monotonic()
        answers = await asyncio.gather(*(self._confirmed(spec) for spec in primaries))
        extended = False
        for spec, why in zip(primaries, answers):
            if why:
                if self._refused.get(spec.node_key) != why:
                    log.warning("failsafe: the replicas do not confirm this primary; it is fenced when its "
                                "lease runs out", node_key=spec.node_key, why=why)
                self._refused[spec.node_key] = why
                self._extending.discard(spec.node_key)
                continue
            if spec.node_key not in self._extending:
                log.warning("failsafe: no coordinator renews the lease; every replica confirms this primary, "
                            "so it keeps taking writes", node_key=spec.node_key, replicas=len(spec.peers))
                self._extending.add(spec.node_key)
            self._refused.pop(spec.node_key, None)
            self._lease.extend(spec.node_key, sent_at + self._lease.length)
            extended = True
        if extended:
            self._on_lease()

    async def _confirmed(self, spec: node_agent_pb2.NodeSpec) -> str:
        """'' when every replica confirms the primary; else why not."""
        address = spec.bind_address or self._address
        calls = [self._ask(peer.agent_endpoint, node_agent_pb2.ConfirmPrimaryRequest(
            replica_node_key=peer.node_key, primary_address=address, primary_port=spec.port, term=spec.term),
            self.timeout) for peer in spec.peers]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for peer, result in zip(spec.peers, results):
            if isinstance(result, BaseException):
                return f"{peer.node_key}'s agent at {peer.agent_endpoint} did not answer ({type(result).__name__})"
            if not result.confirmed:
                return f"{peer.node_key}: {result.reason}"
        return ""


def confirm(spec: node_agent_pb2.NodeSpec | None, info: node_agent_pb2.ReplicationInfo | None,
            request: node_agent_pb2.ConfirmPrimaryRequest) -> node_agent_pb2.ConfirmPrimaryResponse:
    """A replica's word on the primary that asks: it follows that primary, was told of no newer
    term, and its host reaches that primary's engine right now."""
    def refuse(reason: str) -> node_agent_pb2.ConfirmPrimaryResponse:
        return node_agent_pb2.ConfirmPrimaryResponse(confirmed=False, reason=reason)
    if spec is None:
        return refuse("no such node on this host")
    if Role.of(spec.role) is not Role.REPLICA:
        return refuse("it is not a replica")
    if (spec.primary_address, spec.primary_port) != (request.primary_address, request.primary_port):
        return refuse(f"it follows {spec.primary_address}:{spec.primary_port}")
    if spec.term > request.term:
        return refuse(f"it was told of term {spec.term}, newer than {request.term}")
    if info is None or info.primary_sight != node_agent_pb2.PRIMARY_SIGHT_SEEN:
        return refuse("its host does not reach the primary's engine")
    return node_agent_pb2.ConfirmPrimaryResponse(confirmed=True)
