"""Which calls a coordinator that does not lead answers, and what it tells the caller otherwise.

Several coordinators share one etcd; one leads. A follower answers the reads the store holds
(etcd's reads are linearizable, so a follower's answer is as fresh as the leader's). It sends
everything else to the leader: it answers FAILED_PRECONDITION `NotLeader: ... the leader is
NAME at ENDPOINT`, with the endpoint in the trailing metadata `cachefleet-leader`, and the
CLI and the agents ask the leader at once. It does not forward the call itself: a forwarded
call would reach the leader under the follower's certificate, not the caller's, and the
caller's role is what authorizes it and what the audit trail records.

Sent to the leader are: every call that changes something, heartbeats and metric reports
(only the leader grants write leases and keeps the metrics), and the reads answered from
the leader's memory (what hosts reported, metrics, the live event stream, and usage, which
records what it observes before it answers).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from cachefleet.common.guarded import guarded
from coordinator.api.errors import status_of
from coordinator.domain.errors import ApiError

log = structlog.get_logger("api")

LEADER_METADATA = "cachefleet-leader"        # trailing metadata: the leader's endpoint
LEADER_NAME_METADATA = "cachefleet-leader-name"

LEADER_SERVICES = ("/cachefleet.v1.HostRegistry/", "/cachefleet.v1.HostMetrics/")
# reads a follower cannot answer from the store
LEADER_READS = frozenset({"DescribeHosts", "DescribeCacheEngineVersions", "WatchEvents", "DescribeUsage",
                          "GetMetricStatistics", "ListMetrics", "DescribeNodeMetrics"})
READ_PREFIXES = ("Describe", "List", "Get", "Watch")
# open to every caller TLS let in, on any coordinator
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def needs_leader(method: str) -> bool:
    """Whether only the leader answers method (its full gRPC name)."""
    if method.startswith(OPEN_SERVICES):
        return False
    if method.startswith(LEADER_SERVICES):
        return True
    name = method.rsplit("/", 1)[-1]
    return name in LEADER_READS or not name.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class Leadership:
    """What one coordinator knows of the leadership at one moment."""
    me: str
    serving: bool            # it leads and has taken office: it answers everything
    leader: str = ""         # the leader's name as this coordinator last read it ("": none known)
    leader_endpoint: str = ""


def refusal(method: str, view: Leadership) -> ApiError | None:
    """Why this coordinator does not answer method now, or None when it does."""
    if view.serving or not needs_leader(method):
        return None
    if view.leader == view.me:
        return ApiError("ServiceUnavailable", f"{view.me} has just taken the leadership and is starting; ask again.")
    if not view.leader:
        return ApiError("ServiceUnavailable", f"{view.me} does not lead and no coordinator leads now (an election "
                                              "is under way); ask again in a few seconds.")
    return ApiError("NotLeader", f"{view.me} does not lead; the leader is {view.leader} at "
                                 f"{view.leader_endpoint or 'an endpoint it did not give'}.")


def redirect_metadata(view: Leadership) -> tuple[tuple[str, str], ...]:
    if not view.leader or view.leader == view.me or not view.leader_endpoint:
        return ()
    return ((LEADER_METADATA, view.leader_endpoint), (LEADER_NAME_METADATA, view.leader))


class LeaderGate(grpc.aio.ServerInterceptor):
    """Answers the calls only the leader may answer, on a coordinator that does not lead, before
    any servicer runs (so nothing is recorded, nothing is woken). Placed after the
    authorization interceptor: a caller it refuses learns nothing about the leader."""

    def __init__(self, view: Callable[[], Leadership]) -> None:
        self._view = view

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        method = details.method
        if handler is None or not needs_leader(method):
            return handler
        return guarded(handler, lambda context: self._admit(method, context))

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        view = self._view()
        error = refusal(method, view)
        if error is None:
            return
        log.info("request sent to the leader", rpc=method.rsplit("/", 1)[-1], leader=view.leader)
        await context.abort(status_of(error), str(error), trailing_metadata=redirect_metadata(view))
