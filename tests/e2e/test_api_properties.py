"""Random requests against a real coordinator and agents: every refusal carries the right
gRPC status and an ElastiCache code first in its message, changes nothing, and the daemon
keeps serving."""
from __future__ import annotations

import collections
import re

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.fleet import Fleet, wait_for

CODES = {
    "InvalidParameterValue": grpc.StatusCode.INVALID_ARGUMENT,
    "InvalidParameterCombination": grpc.StatusCode.INVALID_ARGUMENT,
    "MissingParameter": grpc.StatusCode.INVALID_ARGUMENT,
    "CacheClusterAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "CacheClusterNotFound": grpc.StatusCode.NOT_FOUND,
    "InvalidCacheClusterState": grpc.StatusCode.FAILED_PRECONDITION,
    "NodeQuotaForClusterExceeded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "InsufficientCacheClusterCapacity": grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# Weighted toward valid values so that accepted requests happen too, and the refusals
# cover every rule: bad ids, unknown engines and types, quotas, capacity, states.
ids = st.sampled_from(["p1", "p1", "P2", "p2", "p3", "", "-a", "a-", "a--b", "1abc", "a" * 51, "ok-" + "b" * 47, "é"])
engines = st.sampled_from(["memcached", "memcached", "redis", "", "Memcached", "mongodb"])
node_types = st.sampled_from(["cache.t1.micro", "cache.t1.micro", "cache.m1.small", "cache.m3.xlarge",
                              "cache.m2.4xlarge", "", "x"])
counts = st.sampled_from([1, 1, 2, 2, 3, 0, -1, 21, 25])
node_ids = st.lists(st.sampled_from(["0001", "0002", "0003", "9999", "1", "", "abcd"]), max_size=3)
zones = st.sampled_from(["", "", "", "zone-a", "nowhere"])
ports = st.sampled_from([None, None, None, None, -5, 0, 80, 1023, 65536])

creates =     st.builds(lambda i, e, t, n, p, z: ("CreateCacheCluster", pb.CreateCacheClusterRequest(
        cache_cluster_id=i, engine=e, cache_node_type=t, num_cache_nodes=n, preferred_availability_zone=z,
        **({"port": p} if p is not None else {}))),
        ids, engines, node_types, counts,
        ports, zones)

# Creates that are valid but for the id (taken or not): the other requests need clusters to act on.
likely_creates = st.builds(lambda i, n: ("CreateCacheCluster", pb.CreateCacheClusterRequest(
    cache_cluster_id=i, engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=n)),
    st.sampled_from(["p1", "p2", "p3", "P3", "p-4"]), st.sampled_from([1, 2]))

# Creates refused for their size alone (with ids nothing else asks for): more nodes than a cluster
# may have, or a node type no host can hold. The fully random creates reach these only rarely.
oversized_creates = st.builds(lambda i, size: ("CreateCacheCluster", pb.CreateCacheClusterRequest(
    cache_cluster_id=i, engine="memcached", **size)),
    st.sampled_from(["big-1", "big-2"]),
    st.sampled_from([{"cache_node_type": "cache.t1.micro", "num_cache_nodes": 21},
                     {"cache_node_type": "cache.m2.4xlarge", "num_cache_nodes": 1}]))

requests = st.one_of(
    creates,
    likely_creates,
    oversized_creates,
    st.builds(lambda i, n, r, now: ("ModifyCacheCluster", pb.ModifyCacheClusterRequest(
        cache_cluster_id=i, cache_node_ids_to_remove=r, apply_immediately=now,
        **({"num_cache_nodes": n} if n is not None else {}))),
        ids, st.none() | counts, node_ids, st.booleans()),
    st.builds(lambda i, r: ("RebootCacheCluster", pb.RebootCacheClusterRequest(
        cache_cluster_id=i, cache_node_ids_to_reboot=r)), ids, node_ids),
    st.builds(lambda i: ("DeleteCacheCluster", pb.DeleteCacheClusterRequest(cache_cluster_id=i)), ids),
    st.builds(lambda i, m: ("DescribeCacheClusters", pb.DescribeCacheClustersRequest(
        cache_cluster_id=i, max_records=m)), ids, st.sampled_from([0, 5, 20, 100, 101])),
    st.builds(lambda t, d: ("DescribeEvents", pb.DescribeEventsRequest(source_type=t, duration=d)),
              st.sampled_from(["", "cache-cluster", "bogus"]), st.integers(min_value=-2, max_value=100)),
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    # the fleet's clock reads noon, outside every default maintenance window: no pending
    # change is applied behind the test's back between two snapshots
    f = Fleet(tmp_path_factory.mktemp("props"), hosts=2, memory_mb=2048).start()
    f.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="p1", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1))
    yield f
    f.discard()


@pytest.fixture(scope="module")
def outcomes() -> collections.Counter:
    """How the coordinator answered this module's random requests: accepted per RPC, refused per code."""
    return collections.Counter()


def snapshot(fleet: Fleet):
    return fleet.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(show_cache_node_info=True), timeout=5)


def settle(fleet: Fleet):
    """Wait until no cluster is in a transitional state, so a snapshot is stable."""
    def stable():
        clusters = snapshot(fleet).cache_clusters
        return all(c.cache_cluster_status == "available" for c in clusters)
    wait_for(stable, 30, what="clusters to settle")


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests)
def test_refused_requests_change_nothing_and_the_daemon_keeps_serving(fleet, outcomes, call):
    rpc, request = call
    settle(fleet)
    before = snapshot(fleet)
    try:
        getattr(fleet.stub, rpc)(request, timeout=5)
        outcomes[f"{rpc} accepted"] += 1
    except grpc.RpcError as exc:
        details = exc.details() or ""
        match = re.match(r"^([A-Za-z]+): \S", details)
        assert match, f"{rpc} error without an ElastiCache code: {details!r}"
        assert match.group(1) in CODES, details
        outcomes[match.group(1)] += 1
        assert exc.code() == CODES[match.group(1)], (exc.code(), details)
        assert snapshot(fleet) == before, f"{rpc} refused with {details!r} but changed state"
    assert fleet.coordinator.poll() is None
    # the daemon still answers, and everything that was accepted converges
    settle(fleet)


def test_the_random_requests_covered_acceptances_and_refusals(fleet, outcomes):
    """Guards the property test above against generating only one kind of request. Run on its
    own, it first sends the property test's examples itself (derandomized: the same ones)."""
    if not outcomes:
        test_refused_requests_change_nothing_and_the_daemon_keeps_serving(fleet=fleet, outcomes=outcomes)
    print(dict(outcomes))
    assert outcomes["CreateCacheCluster accepted"] >= 1
    refusals = {code for code in outcomes if code in CODES}
    assert len(refusals) >= 5, refusals
