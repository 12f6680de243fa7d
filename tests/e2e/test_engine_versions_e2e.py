"""Engine versions end to end: redis 6.0.9 beside Debian's 7.0 on real hosts.

scripts/setup installs redis-server 6.0.9 in /opt/cachefleet/redis-6.0.9/ and the test fleet
passes it to every agent (--engine-path), as `cachefleet up` does. Clients check the version
they talk to with INFO server, through the node's DNS name.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest
import redis
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.up.fleet import default_engine_paths
from tests.helpers.agent import AgentProcess, FakeCoordinator, loopback_address, shared_port, wait_until
from tests.helpers.clusters import listens_on
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.groups import client_for, create_group, members, primary_of, wait_group

REDIS6 = "/opt/cachefleet/redis-6.0.9/redis-server"
REDIS7 = "/usr/bin/redis-server"   # Debian's


def installed_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.split("v=")[1].split()[0]


@pytest.fixture(scope="module")
def redis7() -> str:
    return installed_version(REDIS7)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if REDIS6 not in default_engine_paths():
        pytest.fail(f"{REDIS6} is missing: run scripts/setup")
    f = Fleet(tmp_path_factory.mktemp("versions"), hosts=3).start()
    yield f
    f.discard()


def describe_versions(fleet: Fleet, **fields) -> list[tuple[str, str, str]]:
    reply = fleet.stub.DescribeCacheEngineVersions(pb.DescribeCacheEngineVersionsRequest(**fields), timeout=5)
    return [(v.engine, v.engine_version, v.cache_parameter_group_family) for v in reply.cache_engine_versions]


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def server_info(address: str, port: int) -> dict:
    return redis.Redis(host=address, port=port, socket_timeout=2).info("server")


def test_engine_versions_list_what_the_hosts_run_with_their_families(fleet, redis7):
    memcached = next(h for h in fleet.describe_hosts()[0].engines if h.engine == "memcached").version
    assert memcached.startswith("1.6.")
    # scripts/setup installs redis 6.0.8 and 6.0.9 beside Debian's 7.0
    assert describe_versions(fleet) == [("memcached", memcached, "memcached1.6"), ("redis", "6.0.8", "redis6.0"),
                                        ("redis", "6.0.9", "redis6.0"), ("redis", redis7, "redis7.0")]
    reply = fleet.stub.DescribeCacheEngineVersions(pb.DescribeCacheEngineVersionsRequest(engine="redis"), timeout=5)
    six = reply.cache_engine_versions[1]
    assert (six.cache_engine_description, six.cache_engine_version_description) == \
        ("Redis", "redis version 6.0.9 (installed on 3 of 3 hosts)")
    # default_only: the newest of each engine, the version a create without one gets
    assert describe_versions(fleet, default_only=True) == [("memcached", memcached, "memcached1.6"),
                                                           ("redis", redis7, "redis7.0")]
    assert describe_versions(fleet, engine="redis", engine_version="6.0") == [("redis", "6.0.8", "redis6.0"),
                                                                               ("redis", "6.0.9", "redis6.0")]
    assert describe_versions(fleet, engine_version="6.0.9") == [("redis", "6.0.9", "redis6.0")]
    assert describe_versions(fleet, cache_parameter_group_family="redis7.0") == [("redis", redis7, "redis7.0")]
    assert describe_versions(fleet, engine="redis", engine_version="6.2") == []
    assert describe_versions(fleet, max_records=20, marker="2") == [("redis", "6.0.9", "redis6.0"),
                                                                   ("redis", redis7, "redis7.0")]
    for bad in (dict(engine="mysql"), dict(engine_version="latest"), dict(max_records=5)):
        error = refused(lambda: describe_versions(fleet, **bad))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("InvalidParameterValue: ")

    out = subprocess.run([sys.executable, "-m", "coordinator.cli", "--endpoint", fleet.endpoint,
                          "describe-cache-engine-versions", "--engine", "redis", "--default-only"],
                         env=fleet.cli_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["CacheEngineVersions"] == [{
        "Engine": "redis", "EngineVersion": redis7, "CacheParameterGroupFamily": "redis7.0",
        "CacheEngineDescription": "Redis",
        "CacheEngineVersionDescription": f"redis version {redis7} (installed on 3 of 3 hosts)"}]


def test_a_cluster_created_with_a_version_prefix_runs_that_version(fleet, redis7):
    for cluster_id, asked, runs, binary in (("v60", "6.0", "6.0.9", REDIS6), ("v70", "7.0", redis7, REDIS7),
                                            ("vdefault", "", redis7, REDIS7)):
        created = fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id=cluster_id, engine="redis", engine_version=asked, cache_node_type="cache.t1.micro",
            num_cache_nodes=1), timeout=5).cache_cluster
        assert created.engine_version == runs
        cluster = fleet.wait_status(cluster_id, "available", timeout=20)
        assert cluster.engine_version == runs
        node = cluster.cache_nodes[0]
        (address,) = fleet.resolve(node.endpoint.address)
        assert server_info(address, node.endpoint.port)["redis_version"] == runs
        host = fleet.host_by_address(address)
        (pid,) = [p for p in host.engine_pids() if listens_on(p, address, node.endpoint.port)]
        assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(binary)


def test_an_engine_version_the_fleet_does_not_run_is_refused_changing_nothing(fleet, redis7):
    clusters = [c.cache_cluster_id for c in fleet.stub.DescribeCacheClusters(
        pb.DescribeCacheClustersRequest(), timeout=5).cache_clusters]
    engines = sorted(fleet.all_engine_pids())
    for asked in ("6.2", "6.0.1", "8", "latest"):
        error = refused(lambda: fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id="nope", engine="redis", engine_version=asked, cache_node_type="cache.t1.micro",
            num_cache_nodes=1), timeout=5))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("InvalidParameterValue: ")
        if asked != "latest":
            assert error.details().endswith(f"available: 6.0.8, 6.0.9, {redis7}.")
    error = refused(lambda: create_group(fleet, "nope", clusters=2, engine_version="6.2"))
    assert error.details().startswith("InvalidParameterValue: ") and "6.0.9" in error.details()
    error = refused(lambda: fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="nope", engine="memcached", engine_version="1.4.5", cache_node_type="cache.t1.micro",
        num_cache_nodes=1), timeout=5))
    assert error.details().startswith("InvalidParameterValue: Engine version 1.4.5 of memcached")
    assert [c.cache_cluster_id for c in fleet.stub.DescribeCacheClusters(
        pb.DescribeCacheClustersRequest(), timeout=5).cache_clusters] == clusters
    assert "nope" not in [g.replication_group_id for g in fleet.stub.DescribeReplicationGroups(
        pb.DescribeReplicationGroupsRequest(), timeout=5).replication_groups]
    assert sorted(fleet.all_engine_pids()) == engines


def test_a_replication_group_on_6_0_replicates_and_reports_its_links(fleet):
    created = create_group(fleet, "old", clusters=2, engine_version="6.0")
    assert created.engine_version == "6.0.9"
    g = wait_group(fleet, "old")
    assert g.engine_version == "6.0.9"
    primary = g.node_groups[0].primary_endpoint
    client_for(fleet, primary.address, primary.port).set("written-on", "6.0.9")
    replica = next(m for m in members(g).values() if m.current_role == "replica")
    reader = client_for(fleet, replica.read_endpoint.address, replica.read_endpoint.port)
    assert wait_for(lambda: reader.get("written-on"), 5, what="the replica to copy the write") == b"6.0.9"
    for member in members(g).values():
        (address,) = fleet.resolve(member.read_endpoint.address)
        assert server_info(address, g.port)["redis_version"] == "6.0.9"
    # the agents read 6.0's INFO replication: link, offsets and lag reach the group's description
    def linked() -> bool:
        member = members(wait_group(fleet, "old", timeout=5))[replica.cache_cluster_id]
        return member.replication_link_status == "up" and member.replication_lag_bytes == 0
    wait_for(linked, 5, what="the replica's link up, no lag")
    assert primary_of(g).cache_cluster_id == "old-001"
    # a planned switch between 6.0 nodes: the fenced primary's offset is read from 6.0's INFO
    fleet.stub.TestFailover(pb.TestFailoverRequest(replication_group_id="old", node_group_id="0001"), timeout=5)
    wait_for(lambda: primary_of(wait_group(fleet, "old", timeout=20)).cache_cluster_id == "old-002", 20,
             what="old-002 to be primary")
    writer = client_for(fleet, primary.address, primary.port)
    assert writer.get("written-on") == b"6.0.9"
    assert writer.set("after-switch", 1)


# --- mixed versions on one agent: what a rolling upgrade relies on ---

ADDRESS = loopback_address("127.0.83")
EXTRA_ADDRESS = loopback_address("127.0.84")


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator(lease_ms=1000) as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    if not os.access(REDIS6, os.X_OK):
        pytest.fail(f"{REDIS6} is missing: run scripts/setup")
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("mixed"), coordinator.endpoint,
                      extra_addresses=[EXTRA_ADDRESS], engine_paths=[REDIS6]).start() as running:
        yield running




def member_spec(node_key: str, port: int, version: str, role: agent_pb.Role.ValueType, address: str,
                follows: str = "") -> agent_pb.NodeSpec:
    cluster, node = node_key.rsplit("-", 1)
    fields = dict(primary_address=follows, primary_port=port) if follows else {}
    return agent_pb.NodeSpec(node_key=node_key, cache_cluster_id=cluster, cache_node_id=node, engine="redis",
                             engine_version=version, port=port, max_memory_mb=64, bind_address=address,
                             role=role, **fields)


def mixed_pair(agent: AgentProcess, coordinator: FakeCoordinator, name: str, primary_version: str,
               replica_version: str) -> int:
    """A primary of one version on ADDRESS with data, and a replica of another following it."""
    port = shared_port(ADDRESS, EXTRA_ADDRESS)
    coordinator.writable_primaries.add(f"{name}-0001")
    agent.stub().EnsureNode(agent_pb.EnsureNodeRequest(
        spec=member_spec(f"{name}-0001", port, primary_version, agent_pb.ROLE_PRIMARY, ADDRESS)), timeout=15)
    primary = redis.Redis(host=ADDRESS, port=port, socket_timeout=1)
    wait_until(lambda: _set(primary, "before", "the replica came"), timeout=3, message="primary writable")
    agent.stub().EnsureNode(agent_pb.EnsureNodeRequest(
        spec=member_spec(f"{name}-0002", port, replica_version, agent_pb.ROLE_REPLICA, EXTRA_ADDRESS, follows=ADDRESS)),
        timeout=15)
    return port


def _set(client: redis.Redis, key: str, value: str) -> bool:
    try:
        return bool(client.set(key, value))
    except redis.RedisError:
        return False


def test_a_7_0_replica_follows_a_6_0_primary(agent, coordinator, redis7):
    port = mixed_pair(agent, coordinator, "up", "6.0.9", "7.0")
    primary = redis.Redis(host=ADDRESS, port=port, socket_timeout=1)
    replica = redis.Redis(host=EXTRA_ADDRESS, port=port, socket_timeout=1)
    assert primary.info("server")["redis_version"] == "6.0.9"
    assert replica.info("server")["redis_version"] == redis7
    linked = coordinator.wait_for_node(
        "up-0002", agent_pb.NODE_STATUS_AVAILABLE, timeout=10,
        where=lambda n: (n.replication.role, n.replication.link_status, n.replication.sync_in_progress)
        == (agent_pb.ROLE_REPLICA, agent_pb.LINK_STATE_UP, False))
    assert (linked.replication.primary_host, linked.replication.primary_port) == (ADDRESS, port)
    assert replica.get("before") == b"the replica came"   # the full sync: 7.0 loads 6.0's RDB
    for i in range(100):                                     # then the stream of commands
        primary.set(f"k{i}", i)
    assert wait_until(lambda: replica.get("k99"), timeout=3) == b"99"

    def in_step():
        p, r = coordinator.node_state("up-0001"), coordinator.node_state("up-0002")
        return p and r and p.replication.offset == r.replication.offset > 0 and p
    p = wait_until(in_step, timeout=3, message="the 7.0 replica's offset reaches the 6.0 primary's")
    assert (p.replication.role, p.replication.connected_replicas) == (agent_pb.ROLE_PRIMARY, 1)


def test_a_6_0_replica_cannot_load_a_7_0_primarys_data(agent, coordinator, redis7):
    """Why a rolling upgrade goes replicas first: 6.0 cannot read the RDB a 7.0 primary sends."""
    port = mixed_pair(agent, coordinator, "down", redis7, "6.0.9")
    replica = redis.Redis(host=EXTRA_ADDRESS, port=port, socket_timeout=1)
    log = agent.state.root

    def refused_the_rdb() -> bool:
        return any("Can't handle RDB format version" in path.read_text(errors="replace")
                   for path in log.rglob("*.log") if path.is_file())
    wait_until(refused_the_rdb, timeout=10, message="the 6.0 replica to refuse 7.0's RDB")
    assert replica.info("replication")["master_link_status"] == "down"
    assert replica.get("before") is None
