"""Level-triggered pushes of a host's whole desired state (discovery endpoints, firewall).

Each cycle computes, for every live host, the one request that says everything it must
have; it is sent only when it differs from what that agent instance last took (a restarted
agent has a new instance id, so it gets it again), and a host whose call failed is asked
again after RETRY_SECONDS rather than every cycle.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from google.protobuf.message import Message

from coordinator.state.registry import HostState

RETRY_SECONDS = 1.0


class LevelPush:
    def __init__(self, clock: Callable[[], float] = time.monotonic, retry_seconds: float = RETRY_SECONDS) -> None:
        self.clock = clock
        self.retry_seconds = retry_seconds
        self._pushed: dict[str, tuple[str, bytes]] = {}   # host id -> (agent instance, request sent)
        self._retry_at: dict[str, float] = {}

    def due(self, host: HostState, request: Message) -> tuple[str, bytes] | None:
        """What to remember once `request` is taken by `host`; None when it needs no call now."""
        sent = (host.info.agent_instance_id, request.SerializeToString(deterministic=True))
        if self._pushed.get(host.host_id) == sent or self.clock() < self._retry_at.get(host.host_id, 0.0):
            return None
        return sent

    async def send(self, hosts: Iterable[HostState], request_for: Callable[[HostState], Message],
                   push_one: Callable[[HostState, Message, tuple[str, bytes]], Awaitable[str]]) -> list[str]:
        """Push each host's request where due, all at once; the sentences of those that said one."""
        calls = []
        for host in hosts:
            request = request_for(host)
            sent = self.due(host, request)
            if sent is not None:
                calls.append(push_one(host, request, sent))
        return [a for a in await asyncio.gather(*calls) if a]

    def retrying(self) -> bool:
        """A push failed and is to be sent again."""
        return bool(self._retry_at)

    def taken(self, host_id: str, sent: tuple[str, bytes]) -> None:
        self._retry_at.pop(host_id, None)
        self._pushed[host_id] = sent

    def failed(self, host_id: str) -> None:
        self._retry_at[host_id] = self.clock() + self.retry_seconds
        self._pushed.pop(host_id, None)
