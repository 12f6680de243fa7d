"""The parameter catalogue: the rules it enforces (tests/e2e/test_parameter_catalog_e2e.py checks it
against the installed engines)."""
from __future__ import annotations

import pytest

from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster
from coordinator.parameters import ParameterCache, ParameterGroup, catalog, effective_parameters, max_memory_mb

def test_redis_catalogue_knows_types_ranges_and_change_types_from_the_engine():
    cat = catalog.load("redis7.0")
    policy = cat.param("maxmemory-policy")
    assert policy.allowed_values.split(",") == ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                                                "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"]
    assert (policy.value, policy.engine_default, policy.immediate, policy.source) == \
        ("volatile-lru", "noeviction", True, "system")
    assert cat.param("databases").change_type == "requires-reboot" and cat.param("databases").modifiable
    assert cat.param("io-threads").allowed_values == "1-128"
    assert cat.param("activedefrag").data_type == "boolean"
    for managed in ("bind", "port", "dir", "replicaof", "daemonize", "min-replicas-to-write",
                    "min-replicas-max-lag", "maxmemory", "cluster-enabled", "requirepass"):
        assert not cat.param(managed).modifiable, managed
    assert "slaveof" not in cat.params and "hash-max-ziplist-entries" not in cat.params  # old spellings
    reserved = cat.param("reserved-memory")
    assert (reserved.value, reserved.immediate, reserved.applies_to) == ("0", True, "coordinator")


def test_memcached_catalogue_comes_from_its_options():
    cat = catalog.load("memcached1.6")
    assert cat.param("max_item_size").value == "1048576"
    assert cat.param("chunk_size_growth_factor").value == "1.25"
    assert cat.param("hot_lru_pct").value == "20"
    assert all(p.change_type == "requires-reboot" for p in cat.params.values())
    assert not cat.param("memory_limit").modifiable and not cat.param("port").modifiable


@pytest.mark.parametrize("name, value, canonical", [
    ("maxmemory-policy", "allkeys-lru", "allkeys-lru"),
    ("activedefrag", "YES", "yes"),
    ("hz", "0100", "100"),
    ("notify-keyspace-events", "Ex", "Ex"),
    ("reserved-memory", "104857600", "104857600"),
])
def test_values_are_checked_and_made_canonical(name, value, canonical):
    assert catalog.load("redis7.0").param(name).check(value) == canonical


@pytest.mark.parametrize("name, value", [
    ("maxmemory-policy", "lru"), ("hz", "ten"), ("hz", "-1"), ("io-threads", "129"), ("activedefrag", "1"),
    ("notify-keyspace-events", "Q"), ("port", "7000"), ("maxmemory", "100"), ("timeout", "1;FLUSHALL"),
])
def test_bad_or_unmodifiable_values_are_refused(name, value):
    with pytest.raises(ApiError) as refused:
        catalog.load("redis7.0").param(name).check(value)
    assert refused.value.code == "InvalidParameterValue"


def test_specs_carry_every_immediate_value_and_only_the_changed_reboot_ones():
    cache = ParameterCache()
    cache.put(ParameterGroup("pg", "redis7.0", "d", {"maxmemory-policy": "allkeys-lru", "databases": "32",
                                                     "reserved-memory": str(13 * 1024 * 1024)}))
    cluster = Cluster("c1", "redis", "7.0.15", "cache.t1.micro", 6379, parameter_group="pg")
    parameters, immediate = effective_parameters(cluster, cache)
    assert parameters["maxmemory-policy"] == "allkeys-lru" and "maxmemory-policy" in immediate
    assert parameters["databases"] == "32" and "databases" not in immediate
    assert parameters["hz"] == "10" and "io-threads" not in parameters
    assert "reserved-memory" not in parameters
    assert max_memory_mb(cluster, 213, cache) == 200
    default = Cluster("c2", "redis", "7.0.15", "cache.t1.micro", 6379)
    assert effective_parameters(default, cache)[0]["maxmemory-policy"] == "volatile-lru"
    # a group of another family than the node's version is not applied to it
    assert effective_parameters(cluster, cache, version="6.0.9")[0]["maxmemory-policy"] == "volatile-lru"
    memcached = Cluster("m1", "memcached", "1.6.18", "cache.t1.micro", 11211)
    assert effective_parameters(memcached, cache) == ({}, [])


def test_worked_out_parameters_follow_a_group_changed_and_are_the_callers_own_copies():
    cache = ParameterCache()
    cache.put(ParameterGroup("pg", "redis7.0", "d", {"maxmemory-policy": "allkeys-lru"}))
    cluster = Cluster("c1", "redis", "7.0.15", "cache.t1.micro", 6379, parameter_group="pg")
    parameters, immediate = effective_parameters(cluster, cache)
    parameters["maxmemory-policy"] = "changed by the caller"
    immediate.clear()
    again, immediate_again = effective_parameters(cluster, cache)
    assert again["maxmemory-policy"] == "allkeys-lru" and "maxmemory-policy" in immediate_again
    cache.put(ParameterGroup("pg", "redis7.0", "d", {"maxmemory-policy": "noeviction"}))   # modified
    assert effective_parameters(cluster, cache)[0]["maxmemory-policy"] == "noeviction"
    cache.drop("pg")                                                                        # deleted
    assert effective_parameters(cluster, cache)[0]["maxmemory-policy"] == "volatile-lru"
