"""WatchEvents streams are held open for as long as their caller likes, so one certificate may
hold only its share of them: past it that caller is refused (Throttling), while another
caller still gets in."""
from __future__ import annotations

import time

import grpc
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc

from coordinator.api.events import EventServicer
from tests.helpers.agent import wait_until


def event_servicer(servers) -> EventServicer:
    servicer = servers.coordinator.cache_control.handlers["WatchEvents"].__self__
    assert isinstance(servicer, EventServicer)
    return servicer


def first_answer(call) -> tuple[grpc.StatusCode, str]:
    """How a stream that has no event to send yet ends within its short deadline."""
    try:
        next(iter(call), None)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def test_one_certificate_holds_only_its_share_of_the_watch_streams(servers):
    servicer = event_servicer(servers)
    share, already = servicer.max_watchers_per_caller, servicer.watchers
    with servers.channel("readonly") as readonly, servers.channel("operator") as operator:
        mine = pb_grpc.CacheControlStub(readonly)
        held = [mine.WatchEvents(pb.WatchEventsRequest(), timeout=30) for _ in range(share)]
        try:
            wait_until(lambda: servicer.watchers == already + share, 5, message="every stream admitted")
            started = time.monotonic()
            code, details = first_answer(mine.WatchEvents(pb.WatchEventsRequest(), timeout=5))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and details.startswith("Throttling:"), (code, details)
            assert time.monotonic() - started < 1.0             # refused at once, not left to its deadline
            other = pb_grpc.CacheControlStub(operator).WatchEvents(pb.WatchEventsRequest(), timeout=0.5)
            assert first_answer(other)[0] == grpc.StatusCode.DEADLINE_EXCEEDED      # admitted, waiting for events
        finally:
            for call in held:
                call.cancel()
        wait_until(lambda: servicer.watchers == already, 5, message="every stream ended")
        again = mine.WatchEvents(pb.WatchEventsRequest(), timeout=0.5)
        assert first_answer(again)[0] == grpc.StatusCode.DEADLINE_EXCEEDED          # its share is free again
