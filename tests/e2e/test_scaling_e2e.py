"""Changing the node type of redis clusters and groups: maxmemory follows live, nothing
restarts, data and endpoints stay; a fleet without the memory refuses."""
from __future__ import annotations

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import listens_on
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.groups import client_for, create_group, group, wait_group

SMALL_MB = round(1.3 * 1024)      # cache.m1.small


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("scale"), hosts=3, memory_mb=4096).start()
    yield f
    f.discard()


def engine_pid(fleet: Fleet, address: str, port: int) -> int:
    return next(p for p in fleet.host_by_address(address).engine_pids() if listens_on(p, address, port))


def test_a_group_scales_in_place_keeping_data_endpoints_and_processes(fleet):
    create_group(fleet, "grow", clusters=2)
    g = wait_group(fleet, "grow")
    port = g.node_groups[0].primary_endpoint.port
    members = [m.read_endpoint.address for m in g.node_groups[0].node_group_members]
    addresses = [fleet.resolve(name)[0] for name in members]
    pids = [engine_pid(fleet, a, port) for a in addresses]
    primary = client_for(fleet, "grow.primary.cachefleet.test", port)
    primary.set("kept", "yes")
    assert primary.wait(1, 2000) == 1          # on the replica too before anything changes
    reply = fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
        replication_group_id="grow", cache_node_type="cache.m1.small", apply_immediately=True), timeout=5)
    assert reply.replication_group.status == "modifying"
    g = wait_group(fleet, "grow")
    assert g.cache_node_type == "cache.m1.small"
    import redis
    for address, pid in zip(addresses, pids):
        node = redis.Redis(host=address, port=port, socket_timeout=1)
        assert int(node.config_get("maxmemory")["maxmemory"]) == SMALL_MB * 1024 * 1024
        assert node.get("kept") == b"yes"
        assert engine_pid(fleet, address, port) == pid
    assert [fleet.resolve(name)[0] for name in members] == addresses
    assert fleet.cluster("grow-001").cache_node_type == "cache.m1.small"


def test_scaling_beyond_the_fleets_memory_is_refused_and_changes_nothing(fleet):
    create_group(fleet, "tight", clusters=2)
    wait_group(fleet, "tight")
    for method, request in (
            (fleet.stub.ModifyReplicationGroup, pb.ModifyReplicationGroupRequest(
                replication_group_id="tight", cache_node_type="cache.m1.large", apply_immediately=True)),
            (fleet.stub.ModifyCacheCluster, pb.ModifyCacheClusterRequest(
                cache_cluster_id="tight-001", cache_node_type="cache.m1.small", apply_immediately=True))):
        with pytest.raises(grpc.RpcError) as err:
            method(request, timeout=5)
        assert err.value.details().split(":")[0] in ("InsufficientCacheClusterCapacity", "InvalidCacheClusterState")
    assert group(fleet, "tight").cache_node_type == "cache.t1.micro"
    assert fleet.cluster("tight-002").cache_node_type == "cache.t1.micro"


def test_a_standalone_redis_scales_down_and_memcached_keeps_its_type(fleet):
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="solo", engine="redis", cache_node_type="cache.m1.small", num_cache_nodes=1), timeout=5)
    cluster = fleet.wait_status("solo", "available")
    (address,) = fleet.resolve(cluster.cache_nodes[0].endpoint.address)
    import redis
    node = redis.Redis(host=address, port=cluster.port, socket_timeout=1)
    node.set("kept", "yes")
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="solo", cache_node_type="cache.t1.micro", apply_immediately=True), timeout=5)
    wait_for(lambda: fleet.cluster("solo").cache_cluster_status == "available"
             and int(node.config_get("maxmemory")["maxmemory"]) == 213 * 1024 * 1024, 10, what="scaled down")
    assert node.get("kept") == b"yes"
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="mc", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    fleet.wait_status("mc", "available")
    with pytest.raises(grpc.RpcError) as err:
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id="mc", cache_node_type="cache.m1.small", apply_immediately=True), timeout=5)
    assert err.value.details().startswith("InvalidParameterCombination: ")


def test_a_member_whose_host_lacks_the_memory_moves_to_a_host_that_has_it(tmp_path):
    import redis
    fleet = Fleet(tmp_path, hosts=4, memory_mb=4096)
    fleet.hosts[0].memory_mb = fleet.hosts[1].memory_mb = 1024     # too small for a cache.m1.small
    fleet.start()
    try:
        small, big = fleet.hosts[0], fleet.hosts[2]
        fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
            replication_group_id="mover", replication_group_description="d", num_cache_clusters=2,
            automatic_failover_enabled=True, cache_node_type="cache.t1.micro",
            preferred_cache_cluster_a_zs=[big.zone, small.zone]), timeout=5)
        g = wait_group(fleet, "mover")
        port = g.node_groups[0].primary_endpoint.port
        primary_address = fleet.resolve("mover.primary.cachefleet.test")[0]
        assert primary_address == big.address and fleet.resolve("0001.mover-002.cachefleet.test") == [small.address]
        primary_pid = engine_pid(fleet, big.address, port)
        client = client_for(fleet, "mover.primary.cachefleet.test", port)
        for i in range(200):
            client.set(f"k{i}", i)
        assert client.wait(1, 2000) == 1
        fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id="mover", cache_node_type="cache.m1.small", apply_immediately=True), timeout=5)
        g = wait_for(lambda: (d := group(fleet, "mover")) and d.status == "available"
                     and d.cache_node_type == "cache.m1.small" and d, 30, interval=0.1, what="the scale to finish")
        moved_to = fleet.resolve("0001.mover-002.cachefleet.test")
        assert moved_to and moved_to[0] not in (small.address, fleet.hosts[1].address, big.address)
        assert engine_pid(fleet, big.address, port) == primary_pid, "the primary grew in place"
        for address in (big.address, moved_to[0]):
            node = redis.Redis(host=address, port=port, socket_timeout=1)
            assert int(node.config_get("maxmemory")["maxmemory"]) == SMALL_MB * 1024 * 1024
            assert node.get("k199") == b"199"
        wait_for(lambda: not small.engine_pids(), 5, what="the engine left on the small host to be removed")
        # the user asked for the move and the new copy is in sync: the old replica's data goes
        wait_for(lambda: not (small.state_dir / "data" / "mover-002-0001").exists(), 5,
                 what="the old replica's data directory to go")
        assert not list((small.state_dir / "set-aside").glob("*"))
        assert any(m.startswith("Moving mover-002 to host") for m in fleet.events("mover"))
    finally:
        fleet.discard()
