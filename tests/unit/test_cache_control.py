"""CacheControl is composed of one servicer per resource: every RPC of the service has
exactly one owner, and a composition that leaves one out or answers one twice does not start."""
from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc

from coordinator.api.access_keys import AccessKeyServicer
from coordinator.api.clusters import ClusterServicer
from coordinator.api.events import EventServicer
from coordinator.api.groups import ReplicationGroupServicer
from coordinator.api.parameters import ParameterGroupServicer
from coordinator.api.security_groups import SecurityGroupServicer
from coordinator.api.users import UserServicer
from coordinator.api.coordinators import CoordinatorServicer
from coordinator.api.audit import is_mutating
from coordinator.api.service import CacheControl, rpc_names, rpc_owners
from coordinator.api.snapshots import SnapshotServicer
from coordinator.api.versions import EngineVersionServicer
from coordinator.server import Coordinator, CoordinatorConfig

SERVICERS = (ClusterServicer, ReplicationGroupServicer, ParameterGroupServicer, SnapshotServicer,
             EngineVersionServicer, EventServicer, SecurityGroupServicer, UserServicer, AccessKeyServicer,
             CoordinatorServicer)


@contextlib.asynccontextmanager
async def served(coordinator: Coordinator):
    """The coordinator's CacheControl on a real in-process gRPC server; yields a stub."""
    server = grpc.aio.server()
    coordinator.cache_control.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.CacheControlStub(channel)
    finally:
        await server.stop(0)


@pytest.fixture
def coordinator(tmp_path):
    built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
    yield built
    asyncio.run(built.store.close())


def test_every_rpc_of_cache_control_has_exactly_one_owner():
    owners = rpc_owners(SERVICERS)
    assert list(owners) == rpc_names()
    assert len(rpc_names()) == len(set(rpc_names())) > 0
    assert owners["CreateCacheCluster"] is ClusterServicer
    assert owners["TestFailover"] is ReplicationGroupServicer
    assert owners["WatchEvents"] is EventServicer and owners["DescribeUsage"] is EventServicer
    assert owners["RevokeCacheSecurityGroupIngress"] is SecurityGroupServicer
    assert owners["CreateUserGroup"] is UserServicer


def test_the_server_binds_every_rpc_to_the_servicer_that_defines_it(coordinator):
    handlers = coordinator.cache_control.handlers
    assert set(handlers) == set(rpc_names())
    for name, handler in handlers.items():
        audited = getattr(handler, "audited", False)
        assert audited == is_mutating(name), name       # the audit wraps exactly the mutating calls
        owner = (handler.__wrapped__ if audited else handler).__self__
        assert isinstance(owner, SERVICERS) and name in type(owner).__dict__


def test_a_composition_that_leaves_an_rpc_unanswered_does_not_start():
    with pytest.raises(ValueError, match="no servicer answers DescribeEvents"):
        rpc_owners([s for s in SERVICERS if s is not EventServicer])


def test_an_rpc_answered_twice_does_not_start():
    class SecondEvents:
        async def DescribeEvents(self, request, context):
            return pb.DescribeEventsResponse()

    with pytest.raises(ValueError, match="DescribeEvents is answered by EventServicer and SecondEvents"):
        rpc_owners([*SERVICERS, SecondEvents])


def test_a_servicer_method_named_like_an_rpc_the_service_lacks_does_not_start():
    class Typo:
        async def DescribeCacheClusterz(self, request, context):
            return None

    with pytest.raises(ValueError, match="Typo.DescribeCacheClusterz is not an RPC"):
        rpc_owners([*SERVICERS, Typo])


def test_two_servicers_of_one_class_do_not_start(coordinator):
    servicers = [(h.__wrapped__ if getattr(h, "audited", False) else h).__self__
                 for h in coordinator.cache_control.handlers.values()]
    events = next(s for s in servicers if isinstance(s, EventServicer))
    with pytest.raises(ValueError, match="two servicers of one class"):
        CacheControl(*dict.fromkeys(servicers), EventServicer(events.events, events.meter, events.clock))


def test_the_composed_service_answers_over_grpc(coordinator):
    async def scenario():
        async with served(coordinator) as stub:
            types = await stub.DescribeCacheNodeTypes(pb.DescribeCacheNodeTypesRequest(), timeout=5)
            assert types.cache_node_types
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(cache_cluster_id="nope"),
                                                 timeout=5)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            assert refused.value.details().startswith("CacheClusterNotFound:")
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await stub.DescribeEvents(pb.DescribeEventsRequest(source_type="nonsense"), timeout=5)
            assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    asyncio.run(scenario())


def test_a_coordinator_refuses_local_webhooks_unless_its_flag_allows_them(tmp_path):
    """Strict by default; CoordinatorConfig.notification_allow_local_targets (the flag) lets
    the same request through to the next rule (here: no host to place the node on)."""
    async def answer(allow_local: bool) -> tuple[grpc.StatusCode, str]:
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path / str(allow_local)), dns_backend="none",
                                              notification_allow_local_targets=allow_local))
        try:
            async with served(built) as stub:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
                        cache_cluster_id="hooked", engine="memcached", cache_node_type="cache.t1.micro",
                        num_cache_nodes=1, notification_topic_arn="http://169.254.169.254/latest"), timeout=5)
                if not allow_local:
                    with pytest.raises(grpc.aio.AioRpcError) as group:
                        await stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
                            replication_group_id="g", replication_group_description="d", num_cache_clusters=2,
                            cache_node_type="cache.t1.micro", notification_topic_arn="http://127.0.0.1:9/"),
                            timeout=5)
                    assert group.value.details().startswith("InvalidParameterValue: NotificationTopicArn")
                assert (await stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(),
                                                          timeout=5)).cache_clusters == []
                return refused.value.code(), refused.value.details()
        finally:
            await built.store.close()
    code, details = asyncio.run(answer(False))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("InvalidParameterValue: NotificationTopicArn may not point at a loopback")
    code, details = asyncio.run(answer(True))
    assert not details.startswith("InvalidParameterValue: NotificationTopicArn"), details


def test_a_coordinator_out_of_office_shows_each_replicas_link_as_the_leader_recorded_it(coordinator):
    """A follower has no agent reports: DescribeReplicationGroups shows the links the leader
    wrote into the group record, and the one in office shows what its hosts report."""
    from coordinator.domain.model import Cluster, Node, ReplicationGroup

    async def links(in_office: bool) -> dict[str, str]:
        coordinator._in_office = in_office
        async with served(coordinator) as stub:
            answer = await stub.DescribeReplicationGroups(
                pb.DescribeReplicationGroupsRequest(replication_group_id="g1"), timeout=5)
        return {m.cache_cluster_id: m.replication_link_status
                for m in answer.replication_groups[0].node_groups[0].node_group_members}

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        members = [Cluster(f"g1-00{i}", "redis", "7.0.15", "cache.t1.micro", 6379, replication_group_id="g1",
                           nodes={"0001": Node("0001", host_id=f"h{i}")}, next_node_seq=2) for i in (1, 2, 3)]
        group = ReplicationGroup("g1", "d", "g1-001", [m.cluster_id for m in members], port=6379,
                                 links={"g1-002": "up", "g1-003": "syncing", "g1-001": "down"})
        assert await coordinator.group_repo.create(group, members)
        return await links(False), await links(True)
    follower, leader = asyncio.run(scenario())
    assert follower == {"g1-001": "", "g1-002": "up", "g1-003": "syncing"}   # the primary has no link
    assert leader == {"g1-001": "", "g1-002": "", "g1-003": ""}   # no host reported: nothing known


def test_a_coordinator_out_of_office_shows_a_cluster_with_a_snapshot_under_way_as_snapshotting(coordinator):
    """Its snapshot runner is idle: it reads what the store records (a snapshot still
    `creating`); the one in office shows what its runner is doing (nothing here)."""
    from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
    from coordinator.snapshots.model import Snapshot

    async def status(in_office: bool) -> str:
        coordinator._in_office = in_office
        async with served(coordinator) as stub:
            answer = await stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(cache_cluster_id="r1"),
                                                      timeout=5)
        return answer.cache_clusters[0].cache_cluster_status

    async def scenario() -> list[str]:
        await coordinator.repo.create(Cluster("r1", "redis", "7.0.15", "cache.t1.micro", 6379,
                                              status=ClusterStatus.AVAILABLE,
                                              nodes={"0001": Node("0001", NodeStatus.AVAILABLE, "h1")}))
        seen = [await status(False)]
        assert await coordinator.snapshots.insert(Snapshot("s1", "manual", cluster_id="r1"))
        return seen + [await status(False), await status(True)]
    assert asyncio.run(scenario()) == ["available", "snapshotting", "available"]
