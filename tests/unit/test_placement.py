"""Placement spreads a cluster's nodes over hosts then zones, and accounts memory and ports."""
import pytest

from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster, Node
from coordinator.domain.placement import HostView, account_usage, place_new_cluster, place_nodes


def fleet(*specs):
    """specs: (host_id, zone, memory_mb[, extra addresses])."""
    hosts = {}
    for i, spec in enumerate(specs, start=1):
        host_id, zone, memory = spec[:3]
        extra = list(spec[3]) if len(spec) > 3 else []
        hosts[host_id] = HostView(host_id, zone, [f"127.0.1.{i}"] + extra, memory,
                                  {"memcached": {"1.6.18"}, "redis": {"7.0.15"}})
    return hosts


def cluster(node_type="cache.t1.micro", engine="memcached", version="1.6.18"):
    return Cluster("c1", engine, version, node_type, port=0)


def test_nodes_spread_over_hosts_then_zones():
    hosts = fleet(("h1", "a", 4096), ("h2", "a", 4096), ("h3", "b", 4096))
    port, slots = place_new_cluster(hosts, cluster(), 3, [None] * 3, None)
    assert port == 11211
    assert sorted(s.host.host_id for s in slots) == ["h1", "h2", "h3"]
    # two nodes: one per zone, not two in zone a
    port, slots = place_new_cluster(fleet(("h1", "a", 4096), ("h2", "a", 4096), ("h3", "b", 4096)),
                                    cluster(), 2, [None] * 2, None)
    assert {s.host.zone for s in slots} == {"a", "b"}


def test_one_port_per_address_so_a_second_cluster_moves_to_the_next_port():
    hosts = fleet(("h1", "a", 4096))
    first = cluster()
    port, slots = place_new_cluster(hosts, first, 1, [None], None)
    first.port = port
    first.nodes["0001"] = Node("0001", host_id="h1", address=slots[0].address)
    fresh = fleet(("h1", "a", 4096))
    account_usage(fresh, [first])
    second = Cluster("c2", "memcached", "1.6.18", "cache.t1.micro", port=0)
    port2, _ = place_new_cluster(fresh, second, 1, [None], None)
    assert (port, port2) == (11211, 11212)


def test_a_host_runs_one_node_of_a_cluster_per_address():
    hosts = fleet(("h1", "a", 8192, ["127.1.1.1", "127.1.1.2"]))
    _, slots = place_new_cluster(hosts, cluster(), 3, [None] * 3, None)
    assert sorted(s.address for s in slots) == ["127.0.1.1", "127.1.1.1", "127.1.1.2"]
    with pytest.raises(ApiError) as err:
        place_new_cluster(fleet(("h1", "a", 8192, ["127.1.1.1"])), cluster(), 3, [None] * 3, 11211)
    assert err.value.code == "InsufficientCacheClusterCapacity"


def test_memory_is_accounted_by_node_type():
    hosts = fleet(("h1", "a", 1500, ["127.1.1.1", "127.1.1.2"]))
    with pytest.raises(ApiError) as err:
        place_nodes(list(hosts.values()), cluster("cache.m1.small"), 2, [None, None], 11211)
    assert err.value.code == "InsufficientCacheClusterCapacity"
    assert len(place_nodes(list(fleet(("h1", "a", 1500)).values()), cluster("cache.m1.small"), 1, [None], 11211)) == 1


def test_zones_and_engine_versions_constrain_hosts():
    hosts = fleet(("h1", "a", 4096), ("h2", "b", 4096))
    slots = place_nodes(list(hosts.values()), cluster(), 1, ["b"], 11211)
    assert slots[0].host.host_id == "h2"
    with pytest.raises(ApiError):
        place_nodes(list(hosts.values()), cluster(version="1.4.0"), 1, [None], 11211)


def test_a_group_short_of_hosts_is_told_one_member_per_host_not_memory():
    hosts = fleet(("h1", "a", 8192, ["127.1.1.1"]), ("h2", "b", 8192), ("h3", "c", 8192))
    group = Cluster("g1", "redis", "7.0.15", "cache.t1.micro", port=6379)
    for i, host in enumerate(("h1", "h2", "h3"), start=1):
        group.nodes[f"g1-00{i}/0001"] = Node("0001", host_id=host, zone=hosts[host].zone)
    account_usage(hosts, [group])
    with pytest.raises(ApiError) as err:
        place_nodes(list(hosts.values()), group, 1, [None], 6379, distinct_hosts=True)
    assert err.value.code == "InsufficientCacheClusterCapacity"
    assert err.value.message == ("replication group g1 would need 4 hosts (one member per host); "
                                 "the fleet has 3 live hosts.")


def test_a_cluster_short_of_addresses_is_told_one_node_per_address_not_memory():
    hosts = fleet(*[(f"h{i}", "abc"[i - 1], 8192, [f"127.{i}.0.{j}" for j in range(1, 4)]) for i in range(1, 4)])
    with pytest.raises(ApiError) as err:
        place_new_cluster(hosts, cluster(), 15, [None] * 15, 11211)
    assert err.value.code == "InsufficientCacheClusterCapacity"
    assert "would need 15 host addresses (one node per address" in err.value.message
    assert "the fleet has 3 live hosts with 12 addresses" in err.value.message
    assert "MB" not in err.value.message


def test_a_host_short_of_memory_is_told_so():
    hosts = fleet(("h1", "a", 100))
    with pytest.raises(ApiError) as err:
        place_nodes(list(hosts.values()), cluster(), 1, [None], 11211)
    assert err.value.message.startswith("No host has 213 MB free for another cache.t1.micro node of cache cluster c1")
    assert "h1 100 MB" in err.value.message


def test_a_tls_cluster_goes_only_to_hosts_whose_build_has_tls_and_keeps_its_plaintext_port_free():
    hosts = fleet(("h1", "a", 4096), ("h2", "a", 4096))
    hosts["h2"].tls_engines = {"redis": {"7.0.15"}}
    tls = cluster(engine="redis", version="7.0.15")
    tls.transit_encryption_mode, tls.plaintext_port = "preferred", 6400
    port, slots = place_new_cluster(hosts, tls, 1, [None], None)
    assert [s.host.host_id for s in slots] == ["h2"] and {port, 6400} <= hosts["h2"].ports[slots[0].address]
    with pytest.raises(ApiError, match="built with TLS"):
        place_nodes([hosts["h1"]], tls, 1, [None], port)
