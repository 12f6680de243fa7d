"""Parameter groups end to end: real coordinator, agents, redis-server and memcached.

What a node runs is read from the engine itself (CONFIG GET, `stats settings`), and
"without a restart" means the engine's process id did not change.
"""
from __future__ import annotations

import json
import time

import grpc
import pytest
import redis
from pymemcache.client.base import Client as Memcache

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.cli import main as cli
from tests.helpers.clusters import endpoint_of
from tests.helpers.fleet import Fleet, wait_for

MIB = 1024 * 1024
T1_MICRO_MB = 213


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("params"), hosts=3).start()
    yield f
    f.discard()


def pv(**values) -> list[pb.ParameterNameValue]:
    return [pb.ParameterNameValue(parameter_name=n.replace("_", "-"), parameter_value=v) for n, v in values.items()]


def create_group(fleet: Fleet, name: str, family: str = "redis7.0") -> None:
    fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name=name, cache_parameter_group_family=family, description=f"{name} for tests"),
        timeout=5)


def modify(fleet: Fleet, name: str, pairs: list[pb.ParameterNameValue]) -> None:
    fleet.stub.ModifyCacheParameterGroup(pb.ModifyCacheParameterGroupRequest(
        cache_parameter_group_name=name, parameter_name_values=pairs), timeout=5)


def nodes(fleet: Fleet, cluster_ids: list[str]) -> dict[str, redis.Redis]:
    """A client on every node of the clusters, through its DNS name."""
    clients = {}
    for cluster_id in cluster_ids:
        cluster = fleet.cluster(cluster_id)
        for node in cluster.cache_nodes:
            host, port = endpoint_of(fleet, cluster, node.cache_node_id)
            clients[f"{cluster_id}-{node.cache_node_id}"] = redis.Redis(host=host, port=port, socket_timeout=2,
                                                                         decode_responses=True)
    return clients


def pids(clients: dict[str, redis.Redis]) -> dict[str, int]:
    return {key: client.info("server")["process_id"] for key, client in clients.items()}


def config(clients: dict[str, redis.Redis], name: str) -> set[str]:
    return {client.config_get(name)[name] for client in clients.values()}


def status(fleet: Fleet, cluster_id: str) -> pb.CacheParameterGroupStatus:
    return fleet.cluster(cluster_id).cache_parameter_group


def refused(call, request) -> str:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=5)
    return error.value.details().split(":", 1)[0]


def test_an_immediate_parameter_reaches_every_node_at_once_without_a_restart(fleet):
    create_group(fleet, "live")
    fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="rg", replication_group_description="d", num_cache_clusters=3,
        cache_node_type="cache.t1.micro", cache_parameter_group_name="live"), timeout=5)
    members = ["rg-001", "rg-002", "rg-003"]
    for member in members:
        fleet.wait_status(member, "available", timeout=20)
        assert status(fleet, member).cache_parameter_group_name == "live"
    clients = nodes(fleet, members)
    before = pids(clients)
    assert config(clients, "maxmemory-policy") == {"volatile-lru"}   # cachefleet's default, as ElastiCache's

    changed_at = time.monotonic()
    modify(fleet, "live", pv(maxmemory_policy="allkeys-lru", hz="20"))
    wait_for(lambda: config(clients, "maxmemory-policy") == {"allkeys-lru"}, 5, what="allkeys-lru on every node")
    took = time.monotonic() - changed_at
    assert config(clients, "hz") == {"20"}
    assert pids(clients) == before, "an immediate parameter restarted an engine"
    print(f"maxmemory-policy on 3 nodes, ModifyCacheParameterGroup -> CONFIG GET: {took * 1000:.0f} ms")
    assert took < 3, f"took {took:.2f}s"
    wait_for(lambda: all(status(fleet, m).parameter_apply_status == "in-sync" for m in members), 5,
             what="in-sync")

    # reserved-memory lowers maxmemory live: node memory - reserved
    modify(fleet, "live", pv(reserved_memory=str(100 * MIB)))
    wanted = str((T1_MICRO_MB - 100) * MIB)
    wait_for(lambda: config(clients, "maxmemory") == {wanted}, 5, what="maxmemory lowered on every node")
    assert pids(clients) == before
    # and a reset takes every immediate value back, live too
    fleet.stub.ResetCacheParameterGroup(pb.ResetCacheParameterGroupRequest(
        cache_parameter_group_name="live", reset_all_parameters=True), timeout=5)
    wait_for(lambda: config(clients, "maxmemory-policy") == {"volatile-lru"}
             and config(clients, "maxmemory") == {str(T1_MICRO_MB * MIB)}, 5, what="defaults back")
    assert pids(clients) == before
    wait_for(lambda: all(status(fleet, m).parameter_apply_status == "in-sync" for m in members), 5,
             what="in-sync after the reset")


def test_a_requires_reboot_parameter_waits_for_a_reboot(fleet):
    create_group(fleet, "boot")
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="solo", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    create_group(fleet, "mc", "memcached1.6")
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="mcd", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=2,
        cache_parameter_group_name="mc"), timeout=5)
    fleet.wait_status("solo", "available")
    assert status(fleet, "solo").cache_parameter_group_name == "default.redis7.0"
    client = nodes(fleet, ["solo"])
    pid = pids(client)
    mcd = fleet.wait_status("mcd", "available")
    memcached = [Memcache(endpoint_of(fleet, mcd, n.cache_node_id), timeout=2) for n in mcd.cache_nodes]
    growth = lambda: {c.stats("settings")[b"growth_factor"] for c in memcached}  # noqa: E731
    memcached_pids = lambda: {c.stats()[b"pid"] for c in memcached}  # noqa: E731
    mc_pids = memcached_pids()

    modify(fleet, "boot", pv(databases="32", timeout="77"))
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="solo", cache_parameter_group_name="boot", apply_immediately=True), timeout=5)
    modify(fleet, "mc", [pb.ParameterNameValue(parameter_name="chunk_size_growth_factor", parameter_value="1.5")])
    waiting = wait_for(lambda: (s := status(fleet, "solo")).parameter_apply_status == "pending-reboot" and s, 5,
                       what="pending-reboot")
    assert list(waiting.cache_node_ids_to_reboot) == ["0001"]
    assert config(client, "timeout") == {"77"}, "the immediate one of the two is applied at once"
    assert config(client, "databases") == {"16"} and pids(client) == pid
    mc = wait_for(lambda: (s := status(fleet, "mcd")).parameter_apply_status == "pending-reboot" and s, 5,
                  what="memcached pending-reboot")
    assert list(mc.cache_node_ids_to_reboot) == ["0001", "0002"]
    assert growth() == {1.25} and memcached_pids() == mc_pids, "a parameter change restarted memcached"

    fleet.stub.RebootCacheCluster(pb.RebootCacheClusterRequest(
        cache_cluster_id="solo", cache_node_ids_to_reboot=["0001"]), timeout=5)
    fleet.stub.RebootCacheCluster(pb.RebootCacheClusterRequest(
        cache_cluster_id="mcd", cache_node_ids_to_reboot=["0001", "0002"]), timeout=5)
    fleet.wait_status("solo", "available")
    wait_for(lambda: status(fleet, "solo").parameter_apply_status == "in-sync", 5, what="in-sync after reboot")
    assert list(status(fleet, "solo").cache_node_ids_to_reboot) == []
    client = nodes(fleet, ["solo"])
    assert config(client, "databases") == {"32"} and config(client, "timeout") == {"77"}
    assert pids(client) != pid
    fleet.wait_status("mcd", "available")
    wait_for(lambda: growth() == {1.5}, 5, what="memcached runs the new growth factor")
    assert status(fleet, "mcd").parameter_apply_status == "in-sync"


def test_describe_parameters_shows_values_sources_and_change_types(fleet, capsys):
    create_group(fleet, "shown")
    code = cli.main(["modify-cache-parameter-group", "--endpoint", fleet.endpoint,
                     "--cache-parameter-group-name", "shown", "--parameter-name-values",
                     "ParameterName=maxmemory-policy,ParameterValue=allkeys-lfu",
                     "ParameterName=timeout,ParameterValue=30"])
    assert code == 0 and json.loads(capsys.readouterr().out) == {"CacheParameterGroupName": "shown"}
    reply = fleet.stub.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
        cache_parameter_group_name="shown", max_records=100), timeout=5)
    described = {p.parameter_name: p for p in reply.parameters}
    while reply.marker:
        reply = fleet.stub.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
            cache_parameter_group_name="shown", marker=reply.marker), timeout=5)
        described.update({p.parameter_name: p for p in reply.parameters})
    policy = described["maxmemory-policy"]
    assert (policy.parameter_value, policy.source, policy.change_type, policy.is_modifiable, policy.data_type) == \
        ("allkeys-lfu", "user", "immediate", True, "string")
    assert "noeviction" in policy.allowed_values.split(",")
    assert (described["hz"].source, described["hz"].parameter_value) == ("engine-default", "10")
    assert described["databases"].change_type == "requires-reboot"
    assert not described["port"].is_modifiable and described["port"].source == "system"
    assert described["reserved-memory"].minimum_engine_version == "7.0.0"
    users = fleet.stub.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
        cache_parameter_group_name="shown", source="user"), timeout=5)
    assert [p.parameter_name for p in users.parameters] == ["maxmemory-policy", "timeout"]
    defaults = fleet.stub.DescribeEngineDefaultParameters(pb.DescribeEngineDefaultParametersRequest(
        cache_parameter_group_family="memcached1.6"), timeout=5).engine_defaults
    assert defaults.cache_parameter_group_family == "memcached1.6"
    assert {p.parameter_name: p.parameter_value for p in defaults.parameters}["max_item_size"] == "1048576"
    groups = fleet.stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5)
    names = {g.cache_parameter_group_name: g for g in groups.cache_parameter_groups}
    assert {"default.redis7.0", "default.memcached1.6", "shown"} <= set(names)
    assert names["shown"].cache_parameter_group_family == "redis7.0" and not names["shown"].is_global


def test_every_refusal_changes_nothing(fleet):
    create_group(fleet, "strict")
    modify(fleet, "strict", pv(maxmemory_policy="allkeys-random"))
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="user", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        cache_parameter_group_name="strict"), timeout=5)
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="mc2", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)

    def snapshot():
        params = fleet.stub.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
            cache_parameter_group_name="strict", source="user"), timeout=5).parameters
        groups = fleet.stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5)
        clusters = [fleet.cluster(c) for c in ("user", "mc2")]
        return ([(p.parameter_name, p.parameter_value) for p in params],
                [g.cache_parameter_group_name for g in groups.cache_parameter_groups],
                [(c.cache_cluster_id, c.cache_parameter_group.cache_parameter_group_name) for c in clusters])
    before = snapshot()
    s = fleet.stub
    many = [pb.ParameterNameValue(parameter_name=n, parameter_value="1") for n in
            ("hz", "timeout", "databases", "maxclients", "tcp-keepalive", "slowlog-max-len", "lfu-log-factor",
             "lfu-decay-time", "hll-sparse-max-bytes", "list-compress-depth", "active-expire-effort",
             "maxmemory-samples", "repl-timeout", "latency-monitor-threshold", "set-max-intset-entries",
             "stream-node-max-entries", "stream-node-max-bytes", "acllog-max-len", "slowlog-log-slower-than",
             "tracking-table-max-keys", "repl-backlog-ttl")]
    cases = [
        (s.CreateCacheParameterGroup, pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="strict", cache_parameter_group_family="redis7.0", description="d"),
         "CacheParameterGroupAlreadyExists"),
        (s.CreateCacheParameterGroup, pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="other", cache_parameter_group_family="redis9.9", description="d"),
         "InvalidParameterValue"),
        (s.CreateCacheParameterGroup, pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="default.redis7.0", cache_parameter_group_family="redis7.0", description="d"),
         "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="nope", parameter_name_values=pv(hz="20")), "CacheParameterGroupNotFound"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="default.redis7.0", parameter_name_values=pv(hz="20")),
         "InvalidCacheParameterGroupState"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(no_such_thing="1")), "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(hz="20", maxmemory_policy="lru")),
         "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(hz="ten")), "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(io_threads="500")), "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(port="7000")), "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(min_replicas_to_write="0")),
         "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=many), "InvalidParameterValue"),
        (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="strict", parameter_name_values=pv(reserved_memory=str(300 * MIB))),
         "InvalidParameterCombination"),
        (s.ResetCacheParameterGroup, pb.ResetCacheParameterGroupRequest(
            cache_parameter_group_name="default.redis7.0", reset_all_parameters=True),
         "InvalidCacheParameterGroupState"),
        (s.DeleteCacheParameterGroup, pb.DeleteCacheParameterGroupRequest(
            cache_parameter_group_name="default.redis7.0"), "InvalidParameterValue"),
        (s.DeleteCacheParameterGroup, pb.DeleteCacheParameterGroupRequest(
            cache_parameter_group_name="strict"), "InvalidCacheParameterGroupState"),
        (s.DeleteCacheParameterGroup, pb.DeleteCacheParameterGroupRequest(
            cache_parameter_group_name="nope"), "CacheParameterGroupNotFound"),
        (s.ModifyCacheCluster, pb.ModifyCacheClusterRequest(
            cache_cluster_id="mc2", cache_parameter_group_name="strict"), "InvalidParameterCombination"),
        (s.ModifyCacheCluster, pb.ModifyCacheClusterRequest(
            cache_cluster_id="user", cache_parameter_group_name="nope"), "CacheParameterGroupNotFound"),
        (s.CreateCacheCluster, pb.CreateCacheClusterRequest(
            cache_cluster_id="mc3", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1,
            cache_parameter_group_name="strict"), "InvalidParameterCombination"),
        (s.DescribeCacheParameters, pb.DescribeCacheParametersRequest(
            cache_parameter_group_name="strict", source="mine"), "InvalidParameterValue"),
    ]
    for call, request, code in cases:
        assert refused(call, request) == code, (type(request).__name__, request)
    assert snapshot() == before
    assert fleet.cluster("mc3") is None

    # the group can go once nothing uses it
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="user"), timeout=5)
    fleet.wait_gone("user")
    fleet.stub.DeleteCacheParameterGroup(pb.DeleteCacheParameterGroupRequest(
        cache_parameter_group_name="strict"), timeout=5)
    assert refused(s.DescribeCacheParameters, pb.DescribeCacheParametersRequest(
        cache_parameter_group_name="strict")) == "CacheParameterGroupNotFound"


def test_engine_internals_cannot_be_set_through_a_parameter_group(fleet):
    """loadmodule, dir and aclfile (and a request that mixes one with an allowed value) are
    refused with InvalidParameterValue by Modify and Reset; the group, its events and the
    node's engine are as before."""
    create_group(fleet, "guarded")
    modify(fleet, "guarded", pv(hz="15"))
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="guarded", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        cache_parameter_group_name="guarded"), timeout=5)
    fleet.wait_status("guarded", "available", timeout=30)
    (client,) = nodes(fleet, ["guarded"]).values()
    wait_for(lambda: config({"n": client}, "hz") == {"15"}, timeout=10, what="hz applied")
    engine_before = (client.info("server")["process_id"], client.config_get("dir")["dir"],
                     client.execute_command("MODULE", "LIST"))

    def state():
        params = fleet.stub.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
            cache_parameter_group_name="guarded", source="user"), timeout=5).parameters
        events = fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier="guarded"), timeout=5).events
        return [(p.parameter_name, p.parameter_value) for p in params], [e.message for e in events]
    before = state()
    for name, value in (("loadmodule", "/tmp/evil.so"), ("dir", "/etc"), ("aclfile", "/tmp/users.acl")):
        for pairs in ([pb.ParameterNameValue(parameter_name=name, parameter_value=value)],
                      pv(hz="30") + [pb.ParameterNameValue(parameter_name=name, parameter_value=value)]):
            with pytest.raises(grpc.RpcError) as error:
                modify(fleet, "guarded", pairs)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error.value.details().startswith(f"InvalidParameterValue: Parameter {name} is not"), \
                error.value.details()
        with pytest.raises(grpc.RpcError) as error:
            fleet.stub.ResetCacheParameterGroup(pb.ResetCacheParameterGroupRequest(
                cache_parameter_group_name="guarded",
                parameter_name_values=[pb.ParameterNameValue(parameter_name=name)]), timeout=5)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("InvalidParameterValue:"), error.value.details()
    assert state() == before
    assert (client.info("server")["process_id"], client.config_get("dir")["dir"],
            client.execute_command("MODULE", "LIST")) == engine_before
    assert config({"n": client}, "hz") == {"15"}
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="guarded"), timeout=5)
    fleet.wait_gone("guarded")
