"""DescribeEvents, WatchEvents (events streamed as they are recorded) and DescribeUsage (node-hours)."""
from __future__ import annotations

import asyncio
import collections
import datetime
import re
import time
from collections.abc import Callable

import grpc

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.common.tls.authz import CALLER

from coordinator.domain import validation
from coordinator.api.convert import event_message, timestamp
from coordinator.api.errors import rpc_errors, status_of
from coordinator.api.paging import paginate
from coordinator.domain.errors import ApiError, invalid
from coordinator.state.events import Event, EventLog
from coordinator.metrics.metering import HOUR, Meter, hour_range


# ElastiCache's source types we record, and cachefleet's own: hosts, and the audit events of
# snapshots and alarms (which ElastiCache leaves to CloudTrail)
SOURCE_TYPES = ("cache-cluster", "replication-group", "cache-parameter-group", "cache-security-group", "host", "snapshot",
                "alarm")
WATCH_QUEUE = 10_000     # events a slow watcher may fall behind by before it is cut off
MAX_WATCHERS = 100       # WatchEvents streams open at once (each holds a queue of up to WATCH_QUEUE)
MAX_WATCHERS_PER_CALLER = 25   # of those, held by one certificate: one client cannot take them all
DEFAULT_EVENT_MINUTES = 60
CALLER_FILTER = re.compile(r"(spiffe://[a-z0-9.-]+/)?[A-Za-z0-9._/-]{1,200}")


def check_source_type(source_type: str) -> str:
    if source_type and source_type not in SOURCE_TYPES:
        raise invalid(f"Invalid value for SourceType: {source_type!r}.")
    return source_type


def check_caller(caller: str) -> str:
    """A caller filter: a SPIFFE id or the name at its end, matched whole."""
    if caller and not CALLER_FILTER.fullmatch(caller):
        raise invalid(f"Invalid value for Caller: {caller!r}; give a certificate's SPIFFE id or its name.")
    return caller


def _seconds(ts) -> float:
    return ts.ToNanoseconds() / 1e9


class EventServicer:
    def __init__(self, events: EventLog, meter: Meter, clock: Callable[[], float] = time.time,
                 max_watchers: int = MAX_WATCHERS, max_watchers_per_caller: int = MAX_WATCHERS_PER_CALLER) -> None:
        self.events = events
        self.meter = meter
        self.clock = clock
        self.max_watchers = max_watchers
        self.max_watchers_per_caller = max_watchers_per_caller
        self.watchers = 0
        self._by_caller: collections.Counter[str] = collections.Counter()

    @rpc_errors
    async def DescribeEvents(self, request, context):
        check_source_type(request.source_type)
        if request.duration < 0:
            raise invalid("Duration must not be negative.")
        now = self.clock()
        start = request.start_time.ToNanoseconds() / 1e9 if request.HasField("start_time") else None
        end = request.end_time.ToNanoseconds() / 1e9 if request.HasField("end_time") else None
        if start is None:
            start = now - 60 * (request.duration or DEFAULT_EVENT_MINUTES)
        source_id = request.source_identifier.lower()
        events = await self.events.query(source_id, request.source_type, start, end, check_caller(request.caller))
        page, marker = paginate(events, request.max_records, request.marker)
        return pb.DescribeEventsResponse(marker=marker, events=[event_message(e) for e in page])

    async def WatchEvents(self, request, context):
        """Replay stored events from start_time (or `duration` minutes back), then stream new
        ones as they are recorded, until the caller cancels. A watcher that falls more than
        WATCH_QUEUE events behind is ended with RESOURCE_EXHAUSTED (it can resume from the
        last event's date), and one past max_watchers open streams, or past
        max_watchers_per_caller of one certificate, is refused with it (no caller is known only
        in plaintext mode, where the first limit alone holds)."""
        watcher = CALLER.get()
        who = str(watcher) if watcher is not None else None
        try:
            source_type = check_source_type(request.source_type)
            caller = check_caller(request.caller)
            if request.duration < 0:
                raise invalid("Duration must not be negative.")
            if self.watchers >= self.max_watchers:
                raise ApiError("Throttling", f"{self.watchers} WatchEvents streams are open, the most this "
                               "coordinator serves; try again when one has ended.")
            if who is not None and self._by_caller[who] >= self.max_watchers_per_caller:
                raise ApiError("Throttling", f"{watcher} has {self._by_caller[who]} WatchEvents streams open, the "
                               "most one caller may; end one first.")
        except ApiError as exc:
            await context.abort(status_of(exc), str(exc))
        self.watchers += 1
        if who is not None:
            self._by_caller[who] += 1
        try:
            async for message in self._watch(request, context, source_type, caller):
                yield message
        finally:
            self.watchers -= 1
            if who is not None:
                self._by_caller[who] -= 1
                if not self._by_caller[who]:
                    del self._by_caller[who]

    async def _watch(self, request, context, source_type: str, caller: str):
        source_id = request.source_identifier.lower()
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        def matches(event: Event) -> bool:
            return (not source_id or event.source_identifier == source_id) and \
                (not source_type or event.source_type == source_type) and (not caller or event.caused_by(caller))

        def deliver(event: Event) -> None:
            if not matches(event):
                return
            if queue.qsize() >= WATCH_QUEUE:
                queue.put_nowait(None)
                unsubscribe()
                return
            queue.put_nowait(event)

        unsubscribe = self.events.subscribe(deliver)   # before the replay: nothing falls in between
        try:
            replayed: set[str] = set()
            start = _seconds(request.start_time) if request.HasField("start_time") else \
                self.clock() - 60 * request.duration if request.duration else None
            if start is not None:
                for stored in await self.events.query(source_id, source_type, start, None, caller):
                    replayed.add(stored.event_id)
                    yield event_message(stored)
            while True:
                event = await queue.get()
                if event is None:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        f"ServiceUnavailable: the watcher fell more than {WATCH_QUEUE} events behind.")
                    return                                  # abort raises: the stream ends there
                if event.event_id in replayed:
                    continue
                yield event_message(event)
        finally:
            unsubscribe()

    @rpc_errors
    async def DescribeUsage(self, request, context):
        now = self.clock()
        if request.HasField("start_time"):
            start = _seconds(request.start_time)
        else:
            today = datetime.datetime.fromtimestamp(now, datetime.UTC)
            start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
        end = _seconds(request.end_time) if request.HasField("end_time") else now
        if end < start:
            raise invalid("EndTime must not be before StartTime.")
        cluster_id = validation.cluster_id(request.cache_cluster_id) if request.cache_cluster_id else ""
        rows = await self.meter.usage(start, end, cluster_id)
        first, last = hour_range(start, end)
        return pb.DescribeUsageResponse(
            start_time=timestamp(first * HOUR), end_time=timestamp(last * HOUR),
            usage_records=[pb.UsageRecord(cache_cluster_id=r.cluster_id, cache_node_type=r.node_type,
                                          engine=r.engine, node_hours=r.node_hours,
                                          replication_group_id=r.replication_group_id) for r in rows])
