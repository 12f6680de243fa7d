"""Cache clusters end to end: real coordinator, agents, supervisord, memcached and redis-server.

Every test talks to the engines the way an application would: it resolves the
node's DNS name (from the hosts-format zone the coordinator writes) and uses a
normal client on name:port.
"""
from __future__ import annotations

import socket
import time

import grpc
import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import (a_reconcile_cycle_passes, create, endpoint_of, listens_on, memcache, port_closed,
                                    serves_memcached)
from tests.helpers.fleet import Fleet, kill_pid, pid_alive, wait_for


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"), hosts=3, extra_addresses=1).start()
    yield f
    f.discard()


def test_memcached_cluster_becomes_available_and_serves_through_its_names(fleet):
    started = time.monotonic()
    created = create(fleet, "web", nodes=3)
    assert created.cache_cluster_status == "creating"
    cluster = fleet.wait_status("web", "available")
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"3 nodes took {elapsed:.2f}s"
    assert [n.cache_node_id for n in cluster.cache_nodes] == ["0001", "0002", "0003"]
    assert cluster.configuration_endpoint.address == "web.cfg.cachefleet.test"
    addresses = set()
    for node in cluster.cache_nodes:
        assert node.endpoint.address == f"{node.cache_node_id}.web.cachefleet.test"
        assert node.endpoint.port == cluster.port
        # Auto Discovery answers beside the nodes on a port of its own (tests/test_discovery_e2e.py)
        assert cluster.configuration_endpoint.port not in (0, cluster.port)
        assert node.cache_node_status == "available"
        address, port = endpoint_of(fleet, cluster, node.cache_node_id)
        addresses.add(address)
        assert serves_memcached((address, port), key=f"key-{node.cache_node_id}")
    # three nodes on three different hosts, in three zones
    assert len({fleet.host_by_address(a).host_id for a in addresses}) == 3
    assert cluster.preferred_availability_zone == "Multiple"
    assert sorted(fleet.resolve("web.cfg.cachefleet.test")) == sorted(addresses)
    fleet.wait_event("web", "Cache cluster created")


def test_modify_adds_a_node_then_removes_the_one_named(fleet):
    create(fleet, "grow", nodes=2)
    fleet.wait_status("grow", "available")
    reply = fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="grow", num_cache_nodes=3, apply_immediately=True), timeout=5)
    assert reply.cache_cluster.cache_cluster_status == "modifying"
    cluster = fleet.wait_status("grow", "available")
    assert [n.cache_node_id for n in cluster.cache_nodes] == ["0001", "0002", "0003"]
    assert serves_memcached(endpoint_of(fleet, cluster, "0003"))
    removed_at = endpoint_of(fleet, cluster, "0001")

    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="grow", num_cache_nodes=2, cache_node_ids_to_remove=["0001"], apply_immediately=True),
        timeout=5)
    cluster = fleet.wait_status("grow", "available")
    assert [n.cache_node_id for n in cluster.cache_nodes] == ["0002", "0003"]
    assert cluster.num_cache_nodes == 2
    wait_for(lambda: port_closed(*removed_at), 5, what="removed node's engine to stop")
    wait_for(lambda: fleet.resolve("0001.grow.cachefleet.test") == [], 2, what="removed node's name to go")
    wait_for(lambda: removed_at[0] not in fleet.resolve("grow.cfg.cachefleet.test"), 2,
             what="configuration endpoint to drop the removed node")
    assert any("Removed cache node 0001" in m for m in fleet.events("grow"))


def test_reboot_restarts_only_the_named_nodes(fleet):
    create(fleet, "boot", nodes=2)
    cluster = fleet.wait_status("boot", "available")
    first, second = endpoint_of(fleet, cluster, "0001"), endpoint_of(fleet, cluster, "0002")
    for ep in (first, second):
        memcache(ep).set("survives", b"?")
    reply = fleet.stub.RebootCacheCluster(pb.RebootCacheClusterRequest(
        cache_cluster_id="boot", cache_node_ids_to_reboot=["0001"]), timeout=5)
    assert reply.cache_cluster.cache_cluster_status == "rebooting cache cluster nodes"
    fleet.wait_status("boot", "available")
    wait_for(lambda: serves_memcached(first), 5, what="rebooted node to serve")
    assert memcache(first).get("survives") is None      # a memcached reboot empties the node
    assert memcache(second).get("survives") == b"?"     # the other node was not touched
    assert any("Cache node 0001 restarted" in m for m in fleet.events("boot"))


def test_delete_stops_the_engines_and_removes_the_names(fleet):
    create(fleet, "gone", nodes=2)
    cluster = fleet.wait_status("gone", "available")
    endpoints = [endpoint_of(fleet, cluster, n.cache_node_id) for n in cluster.cache_nodes]
    reply = fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="gone"), timeout=5)
    assert reply.cache_cluster.cache_cluster_status == "deleting"
    fleet.wait_gone("gone")
    for ep in endpoints:
        assert port_closed(*ep)
    wait_for(lambda: fleet.resolve("0001.gone.cachefleet.test") == [], 2, what="node name to go")
    wait_for(lambda: fleet.resolve("gone.cfg.cachefleet.test") == [], 2, what="configuration endpoint to go")
    fleet.wait_event("gone", "Cache cluster deleted")


def test_twenty_clusters_created_at_once_all_serve_and_deleted_at_once_all_go(fleet):
    ids = [f"par{i:02d}" for i in range(20)]

    def listed() -> dict[str, str]:
        reply = fleet.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(max_records=100), timeout=5)
        return {c.cache_cluster_id: c.cache_cluster_status for c in reply.cache_clusters if c.cache_cluster_id in ids}

    calls = [fleet.stub.CreateCacheCluster.future(pb.CreateCacheClusterRequest(
        cache_cluster_id=cluster_id, engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1),
        timeout=10) for cluster_id in ids]
    assert {call.result().cache_cluster.cache_cluster_status for call in calls} == {"creating"}
    wait_for(lambda: (now := listed()) and len(now) == 20 and set(now.values()) == {"available"}, 10,
             what="20 clusters created at once to be available")
    endpoints = {i: wait_for(lambda: endpoint_of(fleet, fleet.cluster(i), "0001"), 2, what=f"{i}'s name")
                 for i in ids}
    for cluster_id, endpoint in endpoints.items():
        assert serves_memcached(endpoint, key=cluster_id)
    calls = [fleet.stub.DeleteCacheCluster.future(pb.DeleteCacheClusterRequest(cache_cluster_id=cluster_id),
                                                  timeout=10) for cluster_id in ids]
    assert {call.result().cache_cluster.cache_cluster_status for call in calls} == {"deleting"}
    wait_for(lambda: not listed(), 10, what="20 clusters deleted at once to be gone")
    for endpoint in endpoints.values():
        assert port_closed(*endpoint)
    wait_for(lambda: all(fleet.resolve(f"0001.{i}.cachefleet.test") == [] for i in ids), 2, what="their names to go")


def test_redis_cluster_serves_through_its_name_with_maxmemory_from_the_node_type(fleet):
    create(fleet, "sessions", engine="redis", nodes=1, port=fleet.coordinator_port + 1)
    cluster = fleet.wait_status("sessions", "available")
    assert not cluster.HasField("configuration_endpoint")
    address, port = endpoint_of(fleet, cluster, "0001")
    assert port == fleet.coordinator_port + 1
    client = redis.Redis(host=address, port=port, socket_timeout=1)
    client.set("user:1", "alice")
    assert client.get("user:1") == b"alice"
    assert int(client.config_get("maxmemory")["maxmemory"]) == 213 * 1024 * 1024


def test_a_killed_memcached_engine_serves_again_under_its_name_within_2s(fleet):
    create(fleet, "heal", nodes=1)
    cluster = fleet.wait_status("heal", "available")
    ep = endpoint_of(fleet, cluster, "0001")
    host = fleet.host_by_address(ep[0])
    pids = host.engine_pids()
    victim = next(p for p in pids if listens_on(p, *ep))
    killed_at = time.monotonic()
    kill_pid(victim)
    wait_for(lambda: serves_memcached(ep), 2.0, interval=0.01, what="node to serve again")
    assert time.monotonic() - killed_at < 2.0
    assert fleet.resolve("0001.heal.cachefleet.test") == [ep[0]]
    wait_for(lambda: any("Cache node 0001 restarted" in m for m in fleet.events("heal")), 5,
             what="restart event")


def test_an_agent_restart_never_restarts_an_engine(fleet):
    create(fleet, "steady", nodes=3)
    fleet.wait_status("steady", "available")
    before = {h.host_id: sorted(h.engine_pids()) for h in fleet.hosts}
    host = fleet.hosts[0]
    host.proc.kill()
    host.proc.wait(10)
    fleet.start_agent(host)
    wait_for(lambda: next(h for h in fleet.describe_hosts() if h.host_id == host.host_id).status == "available",
             10, what="agent back")
    a_reconcile_cycle_passes(fleet)   # the reconciler has looked at the re-attached agent
    after = {h.host_id: sorted(h.engine_pids()) for h in fleet.hosts}
    assert after == before
    assert all(pid_alive(p) for pids in after.values() for p in pids)
    assert fleet.cluster("steady").cache_cluster_status == "available"


def test_refused_requests_say_why_and_change_nothing(fleet):
    create(fleet, "keep", nodes=1)
    fleet.wait_status("keep", "available")
    before = fleet.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(show_cache_node_info=True))
    cases = [
        (pb.CreateCacheClusterRequest(cache_cluster_id="keep", engine="memcached",
                                      cache_node_type="cache.t1.micro", num_cache_nodes=1),
         grpc.StatusCode.ALREADY_EXISTS, "CacheClusterAlreadyExists"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x", engine="mongodb",
                                      cache_node_type="cache.t1.micro", num_cache_nodes=1),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x", engine="memcached",
                                      cache_node_type="cache.huge", num_cache_nodes=1),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x", engine="memcached",
                                      cache_node_type="cache.t1.micro", num_cache_nodes=21),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "NodeQuotaForClusterExceeded"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x", engine="redis",
                                      cache_node_type="cache.t1.micro", num_cache_nodes=2),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x--y", engine="memcached",
                                      cache_node_type="cache.t1.micro", num_cache_nodes=1),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.CreateCacheClusterRequest(cache_cluster_id="x", engine="memcached",
                                      cache_node_type="cache.m2.4xlarge", num_cache_nodes=1),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "InsufficientCacheClusterCapacity"),
        (pb.ModifyCacheClusterRequest(cache_cluster_id="nope", num_cache_nodes=2),
         grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound"),
        (pb.ModifyCacheClusterRequest(cache_cluster_id="keep", num_cache_nodes=0),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.RebootCacheClusterRequest(cache_cluster_id="keep", cache_node_ids_to_reboot=["0009"]),
         grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue"),
        (pb.DeleteCacheClusterRequest(cache_cluster_id="nope"), grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound"),
    ]
    for request, status, code in cases:
        method = {pb.CreateCacheClusterRequest: fleet.stub.CreateCacheCluster,
                  pb.ModifyCacheClusterRequest: fleet.stub.ModifyCacheCluster,
                  pb.RebootCacheClusterRequest: fleet.stub.RebootCacheCluster,
                  pb.DeleteCacheClusterRequest: fleet.stub.DeleteCacheCluster}[type(request)]
        with pytest.raises(grpc.RpcError) as err:
            method(request, timeout=5)
        assert err.value.code() == status, (request, err.value.details())
        assert err.value.details().startswith(code + ": "), err.value.details()
    after = fleet.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(show_cache_node_info=True))
    assert after == before


def test_a_modify_while_creating_is_refused_and_a_node_that_cannot_start_shows_failed(fleet):
    # Hold the cluster's port on every address of the fleet, so its engine cannot bind:
    # the cluster stays `creating` for as long as the test wants.
    port = fleet.coordinator_port + 2
    holders = []
    for host in fleet.hosts:
        for address in [host.address] + host.extra_addresses:
            sock = socket.socket()
            sock.bind((address, port))
            sock.listen()
            holders.append(sock)
    try:
        create(fleet, "busy", nodes=1, port=port)
        cluster = wait_for(lambda: (c := fleet.cluster("busy")).cache_nodes[0].cache_node_status == "failed" and c,
                           10, what="node to fail")
        assert cluster.cache_cluster_status == "creating"
        with pytest.raises(grpc.RpcError) as err:
            fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(cache_cluster_id="busy", num_cache_nodes=2,
                                                                        apply_immediately=True))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.details().startswith("InvalidCacheClusterState: ")
        assert fleet.cluster("busy").num_cache_nodes == 1
        assert any("Cache node 0001 failed" in m for m in fleet.events("busy"))
    finally:
        for sock in holders:
            sock.close()
    # once the port is free again the node starts and the cluster becomes available
    fleet.wait_status("busy", "available", timeout=20)
