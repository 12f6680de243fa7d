"""The coordinators an agent reports to (`--coordinator A,B,C`) and the one it reports to now.

Several coordinators share one etcd: the leader answers; the others (followers) refuse
heartbeats with NotLeader, naming the leader's endpoint in the trailing metadata
`cachefleet-leader`. An agent stays with the one that answered last and, when a call to it
fails, asks next the leader it was told of if that one is in its list, else the next one of
the list; heartbeats and metric reports both follow. One coordinator (the default) is a list
of one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import structlog

from cachefleet.common.tls.transport import ChannelSource, Transport

log = structlog.get_logger("nodeagent.coordinators")

LEADER_METADATA = "cachefleet-leader"


def parse(text: str) -> list[str]:
    """HOST:PORT,HOST:PORT,... as a list; ValueError when it names none."""
    endpoints = [part.strip() for part in text.split(",") if part.strip()]
    if not endpoints or any(":" not in endpoint for endpoint in endpoints):
        raise ValueError(f"--coordinator takes HOST:PORT[,HOST:PORT...], got {text!r}")
    return endpoints


class Coordinators:
    def __init__(self, endpoints: Sequence[str], transport: Transport,
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        self.endpoints = list(endpoints)
        self._transport = transport
        self._options = list(options)
        self._sources: dict[str, ChannelSource] = {}
        self._current = 0
        self._last_failed = ""   # the endpoint whose call failed last

    @property
    def current(self) -> str:
        return self.endpoints[self._current]

    def channel(self) -> tuple[str, grpc.aio.Channel]:
        """The endpoint to call now and a channel to it (made inside the running event loop)."""
        endpoint = self.current
        if endpoint not in self._sources:
            self._sources[endpoint] = self._transport.dial(endpoint, self._options)
        return endpoint, self._sources[endpoint].channel()

    def failed(self, endpoint: str, leader: str = "") -> bool:
        """A call to endpoint failed: the next call goes to `leader` (the one it named) when it
        is one of ours, else to the next coordinator of the list. True when that is another one."""
        if len(self.endpoints) == 1 or endpoint != self.current:
            return False
        previous, self._last_failed = self._last_failed, endpoint
        # the leader named is asked next, unless it is the one that just did not answer: a
        # follower names a dead leader until its lease runs out, and the new one is elsewhere
        if leader in self.endpoints and leader not in (endpoint, previous):
            self._current = self.endpoints.index(leader)
            log.info("coordinator does not lead; asking the leader", failed=endpoint, next=leader)
            return True
        self._current = (self._current + 1) % len(self.endpoints)
        log.info("coordinator did not answer; trying the next", failed=endpoint, next=self.current)
        return True

    async def close(self) -> None:
        sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            await source.close()


def named_leader(error: Exception) -> str:
    """The leader's endpoint a coordinator's NotLeader answer names; "" for any other failure."""
    if not isinstance(error, grpc.aio.AioRpcError) or error.code() != grpc.StatusCode.FAILED_PRECONDITION:
        return ""
    for key, value in error.trailing_metadata() or ():
        if key == LEADER_METADATA and isinstance(value, str):
            return value
    return ""
