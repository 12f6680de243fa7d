"""The audit trail: a mutating call's events name its caller, a call that says nothing of its
own gets one event that does, and describe-events filters by caller."""
import asyncio

import grpc
import pytest
from cachefleet.common.tls.authz import CALLER
from cachefleet.common.tls.identity import Identity, Role
from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.audit import Audit, source_of
from coordinator.api.events import EventServicer
from coordinator.state.events import EventLog
from coordinator.state.store import SqliteStore

ALICE = Identity.client("alice", Role.OPERATOR)
BOB = Identity.client("bob", Role.ADMIN)


class Aborted(Exception):
    pass


class Context:
    async def abort(self, code, details):
        raise Aborted(code, details)


def as_caller(identity, call):
    """Run call() in a context of its own with `identity` as the caller, as the interceptor does."""
    async def run():
        CALLER.set(identity)
        return await call()
    return asyncio.get_running_loop().create_task(run())


def test_a_call_that_records_nothing_gets_one_event_naming_its_caller(tmp_path):
    log = EventLog(SqliteStore(tmp_path / "s.db"))

    async def create_group(request, context):
        return pb.CreateCacheParameterGroupResponse()

    async def scenario():
        handler = Audit(log).wrap("CreateCacheParameterGroup", create_group)
        await as_caller(ALICE, lambda: handler(pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="Sessions"), Context()))
        [event] = await log.query()
        assert (event.source_type, event.source_identifier) == ("cache-parameter-group", "sessions")
        assert event.caller == str(ALICE) and event.message == f"CreateCacheParameterGroup called by {ALICE}"
    asyncio.run(scenario())


def test_a_call_that_records_its_own_events_is_not_said_twice_and_they_name_the_caller(tmp_path):
    log = EventLog(SqliteStore(tmp_path / "s.db"))

    async def create_cluster(request, context):
        await log.record("cache-cluster", request.cache_cluster_id, "Cache cluster creating")
        return pb.CreateCacheClusterResponse()

    async def scenario():
        handler = Audit(log).wrap("CreateCacheCluster", create_cluster)
        await as_caller(BOB, lambda: handler(pb.CreateCacheClusterRequest(cache_cluster_id="c1"), Context()))
        assert [(e.message, e.caller) for e in await log.query()] == [("Cache cluster creating", str(BOB))]
    asyncio.run(scenario())


def test_refused_and_reading_calls_leave_no_event(tmp_path):
    log = EventLog(SqliteStore(tmp_path / "s.db"))

    async def refuse(request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound: c9")

    async def describe(request, context):
        return pb.DescribeCacheClustersResponse()

    async def scenario():
        audit = Audit(log)
        with pytest.raises(Aborted):
            await as_caller(ALICE, lambda: audit.wrap("DeleteCacheCluster", refuse)(
                pb.DeleteCacheClusterRequest(cache_cluster_id="c9"), Context()))
        assert audit.wrap("DescribeCacheClusters", describe) is describe
        await as_caller(ALICE, lambda: describe(pb.DescribeCacheClustersRequest(), Context()))
        assert await log.query() == []
    asyncio.run(scenario())


def test_the_fleets_own_events_name_no_caller(tmp_path):
    log = EventLog(SqliteStore(tmp_path / "s.db"))
    event = asyncio.run(log.record("cache-cluster", "c1", "Recovered cache node 0001"))
    assert event.caller == ""


def test_describe_events_filters_by_the_callers_id_or_name_and_refuses_a_bad_filter(tmp_path):
    log = EventLog(SqliteStore(tmp_path / "s.db"))
    servicer = EventServicer(log, meter=None)

    async def scenario():
        await as_caller(ALICE, lambda: log.record("cache-cluster", "c1", "Cache cluster creating"))
        await as_caller(BOB, lambda: log.record("cache-cluster", "c2", "Cache cluster deleting"))
        await log.record("cache-cluster", "c1", "Cache cluster available")
        for caller in ("alice", str(ALICE)):
            answer = await servicer.DescribeEvents(pb.DescribeEventsRequest(caller=caller), Context())
            assert [(e.source_identifier, e.caller) for e in answer.events] == [("c1", str(ALICE))]
        with pytest.raises(Aborted) as refused:
            await servicer.DescribeEvents(pb.DescribeEventsRequest(caller="alice\n"), Context())
        assert "InvalidParameterValue" in str(refused.value)
    asyncio.run(scenario())


def test_the_source_is_the_resource_the_request_names():
    assert source_of(pb.CreateSnapshotRequest(replication_group_id="G", snapshot_name="s")) == \
        ("replication-group", "g")
    assert source_of(pb.DeleteSnapshotRequest(snapshot_name="Nightly")) == ("snapshot", "nightly")
    assert source_of(pb.DescribeEventsRequest()) == ("", "")
