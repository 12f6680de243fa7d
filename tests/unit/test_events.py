"""Events are kept 14 days, listed in time order, filtered by source."""
import asyncio

import grpc
import pytest
from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.events import EventServicer
from coordinator.state.events import RETENTION_SECONDS, EventLog
from coordinator.state.store import SqliteStore


def test_events_older_than_14_days_are_pruned_and_the_rest_filtered_in_order(tmp_path):
    now = [1_000_000_000.0]
    log = EventLog(SqliteStore(tmp_path / "s.db"), clock=lambda: now[0])

    async def scenario():
        await log.record("cache-cluster", "c1", "old")
        now[0] += RETENTION_SECONDS + 1
        await log.record("cache-cluster", "c1", "created")
        await log.record("host", "h1", "lost")
        await log.record("cache-cluster", "c2", "created")
        assert await log.prune() == 1
        assert [e.message for e in await log.query()] == ["created", "lost", "created"]
        assert [e.source_identifier for e in await log.query(source_type="cache-cluster")] == ["c1", "c2"]
        assert [e.message for e in await log.query(source_identifier="h1")] == ["lost"]
        assert await log.query(start=now[0] + 1) == []
    asyncio.run(scenario())


class CountingStore(SqliteStore):
    """Counts the records each read hands back: what a query cost."""

    def __init__(self, path):
        super().__init__(path)
        self.read = 0

    async def list(self, prefix):
        raise AssertionError("the event log reads by time range, never a whole prefix")

    async def list_range(self, start, end, limit=0):
        records = await super().list_range(start, end, limit)
        self.read += len(records)
        return records


def test_queries_and_pruning_read_only_their_time_range(tmp_path):
    now = [1_000_000_000.0]
    store = CountingStore(tmp_path / "s.db")
    log = EventLog(store, clock=lambda: now[0])

    async def scenario():
        for _ in range(2000):                      # two days of events, one every 86 s
            await log.record("cache-cluster", "c1", "old")
            now[0] += 86.4
        await log.record("cache-cluster", "c1", "recent")
        first = now[0]
        now[0] += 0.0004                           # the same millisecond: the range's edges hold
        await log.record("host", "h1", "late")
        store.read = 0
        assert [e.message for e in await log.query(start=now[0] - 3600)] == ["old"] * 41 + ["recent", "late"]
        assert store.read == 43
        store.read = 0
        assert [e.message for e in await log.query(start=first, end=first)] == ["recent"]
        assert [e.message for e in await log.query(start=first + 0.0001, end=now[0])] == ["late"]
        assert store.read <= 4
        now[0] += RETENTION_SECONDS - 2 * 86400 + 3600   # the oldest hour (42 events) has aged out
        store.read = 0
        assert await log.prune() == 42 and store.read == 42
        assert len(await log.query(start=0)) == 2002 - 42
    asyncio.run(scenario())


def test_watch_streams_past_the_limit_are_refused_until_one_ends(tmp_path):
    """A real in-process gRPC server: two streams open, the third is refused with
    RESOURCE_EXHAUSTED / Throttling at once; once one ends, a new one is served."""
    async def scenario():
        log = EventLog(SqliteStore(tmp_path / "s.db"))
        servicer = EventServicer(log, meter=None, max_watchers=2)
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("cachefleet.v1.CacheControl", {
            "WatchEvents": grpc.unary_stream_rpc_method_handler(
                servicer.WatchEvents, pb.WatchEventsRequest.FromString, pb.Event.SerializeToString)})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                watch = channel.unary_stream("/cachefleet.v1.CacheControl/WatchEvents",
                                             request_serializer=pb.WatchEventsRequest.SerializeToString,
                                             response_deserializer=pb.Event.FromString)
                streams = [watch(pb.WatchEventsRequest(), timeout=10) for _ in range(2)]
                async with asyncio.timeout(5):
                    while servicer.watchers < 2:          # both streams are open in the server
                        await asyncio.sleep(0.01)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    async for _ in watch(pb.WatchEventsRequest(), timeout=5):
                        pass
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert refused.value.details().startswith("Throttling: ")
                await log.record("host", "h1", "seen by both")
                assert [(await s.read()).message for s in streams] == ["seen by both"] * 2
                streams[0].cancel()
                async with asyncio.timeout(5):
                    while servicer.watchers > 1:
                        await asyncio.sleep(0.01)
                third = watch(pb.WatchEventsRequest(), timeout=10)
                async with asyncio.timeout(5):
                    while servicer.watchers < 2:
                        await asyncio.sleep(0.01)
                await log.record("host", "h1", "again")
                assert (await third.read()).message == "again"
                third.cancel()
                streams[1].cancel()
        finally:
            await server.stop(0)
    asyncio.run(scenario())
