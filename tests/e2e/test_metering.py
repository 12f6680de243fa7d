"""Usage metering: node-hours per cluster and node type, partial hours counted as full hours.

The unit tests drive the real Meter over a real SQLite store with a clock they move; the
end-to-end test runs a real fleet, moves the coordinator's clock, and reads the figures
through the API and `cachefleet describe-usage`.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.state.repos import ClusterRepo
from coordinator.metrics.metering import HOUR, Lifetime, Meter, usage
from coordinator.domain.model import Cluster, Node, NodeStatus
from coordinator.state.store import SqliteStore
from tests.helpers.fleet import Fleet, wait_for

T0 = 1_700_000_000 // HOUR * HOUR     # a whole hour


def life(start, end=None, node="0001", node_type="cache.t1.micro", cluster="c1"):
    return Lifetime(cluster, 1, node, node_type, "memcached", "", start, end)


def hours(rows):
    return {(r.cluster_id, r.node_type): r.node_hours for r in rows}


def test_partial_hours_count_as_full_clock_hours():
    # 12:40 -> 13:10 touches two clock hours; 14:00 -> 15:00 exactly one
    lives = [life(T0 + 40 * 60, T0 + 70 * 60, "0001"), life(T0 + 2 * HOUR, T0 + 3 * HOUR, "0002")]
    assert hours(usage(lives, T0, T0 + 4 * HOUR, now=T0 + 4 * HOUR)) == {("c1", "cache.t1.micro"): 3}


def test_a_node_is_counted_once_per_hour_and_per_node_type():
    lives = [life(T0, T0 + 600), life(T0 + 1200, T0 + 1800),            # same node, same hour twice
             life(T0 + 1800, T0 + HOUR + 60, node_type="cache.m3.medium")]  # then scaled
    assert hours(usage(lives, T0, T0 + 5 * HOUR, now=T0 + 5 * HOUR)) == {
        ("c1", "cache.t1.micro"): 1, ("c1", "cache.m3.medium"): 2}


def test_a_running_node_counts_until_now_and_ranges_widen_to_whole_hours():
    lives = [life(T0 + 10)]
    now = T0 + 2 * HOUR + 5                  # into its third hour
    assert hours(usage(lives, T0, T0 + 10 * HOUR, now)) == {("c1", "cache.t1.micro"): 3}
    assert hours(usage(lives, T0 + 1800, T0 + HOUR + 1, now)) == {("c1", "cache.t1.micro"): 2}
    # hour-aligned ranges add up to the whole
    parts = [usage(lives, T0 + h * HOUR, T0 + (h + 1) * HOUR, now)[0].node_hours for h in range(3)]
    assert parts == [1, 1, 1]
    assert usage(lives, T0 + 3 * HOUR, T0 + 4 * HOUR, now) == []


def test_the_meter_records_lifetimes_from_creation_to_deletion_in_the_store(tmp_path):
    now = [T0 + 15 * 60]

    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        repo = ClusterRepo(store)
        meter = Meter(store, repo, lambda: now[0])
        cluster = Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", 11211, created=T0 + 10 * 60)
        for node_id in ("0001", "0002"):
            cluster.nodes[node_id] = Node(node_id, NodeStatus.AVAILABLE, "host1", created=T0 + 10 * 60)
        cluster.nodes["0003"] = Node("0003", NodeStatus.CREATING, None, created=T0 + 10 * 60)  # never placed
        await repo.create(cluster)
        assert len(await meter.observe()) == 2
        assert await meter.observe() == []                       # nothing changed, nothing written
        now[0] = T0 + HOUR + 20 * 60                              # 13:20: node 0002 is being removed
        await repo.mutate("c1", lambda c: setattr(c.nodes["0002"], "status", NodeStatus.DELETING))
        assert await meter.observe() == ["stopped c1/0002 (cache.t1.micro)"]
        now[0] = T0 + 3 * HOUR + 1                                # 15:00:01, after a coordinator restart
        restarted = Meter(store, repo, lambda: now[0])
        await repo.mutate("c1", lambda c: setattr(c, "node_type", "cache.m3.medium"))
        assert sorted(await restarted.observe()) == ["started c1/0001 (cache.m3.medium)",
                                                     "stopped c1/0001 (cache.t1.micro)"]
        rows = await restarted.usage(T0, T0 + 4 * HOUR)
        await store.close()
        return rows
    rows = asyncio.run(scenario())
    # 0001: t1.micro 12:10-15:00:01 -> hours 12, 13, 14, 15; m3.medium from 15:00:01 -> hour 15
    # 0002: 12:10-13:20 -> hours 12, 13
    assert hours(rows) == {("c1", "cache.t1.micro"): 6, ("c1", "cache.m3.medium"): 1}


def test_a_thousand_new_nodes_are_metered_in_a_few_writes_not_one_each(tmp_path):
    """A large fleet's first cycle (or a populate) starts thousands of lifetimes: written a
    hundred to a transaction, every one of them read back."""
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        repo = ClusterRepo(store)
        meter = Meter(store, repo, lambda: T0)
        for i in range(25):
            cluster = Cluster(f"c{i:02d}", "memcached", "1.6.18", "cache.t1.micro", 11211, created=T0)
            for n in range(1, 41):
                cluster.nodes[f"{n:04d}"] = Node(f"{n:04d}", NodeStatus.AVAILABLE, "host1", created=T0)
            await repo.create(cluster)
        writes = store.writes
        assert len(await meter.observe()) == 1000
        assert store.writes - writes == 10
        assert len(await meter.lifetimes()) == 1000
        assert len(await Meter(store, repo, lambda: T0).observe()) == 0    # a restarted meter finds them open
        await store.close()
    asyncio.run(scenario())


# -- end to end ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"), hosts=2, extra_addresses=1).start()
    yield f
    f.discard()


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromSeconds(int(seconds))
    return t


def describe_usage(fleet, start, end, cluster_id=""):
    reply = fleet.stub.DescribeUsage(pb.DescribeUsageRequest(start_time=ts(start), end_time=ts(end),
                                                             cache_cluster_id=cluster_id), timeout=5)
    return {(r.cache_cluster_id, r.cache_node_type): r.node_hours for r in reply.usage_records}


def test_node_hours_are_right_over_a_run_with_a_node_added_mid_hour(fleet):
    noon = datetime.datetime.now(datetime.UTC).replace(hour=12, minute=0, second=0,
                                                                microsecond=0).timestamp()
    fleet.set_clock(noon + 5 * 60)                                   # 12:05: two nodes
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="billed", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=2),
        timeout=5)
    fleet.wait_status("billed", "available")
    fleet.set_clock(noon + 40 * 60)                                  # 12:40: a third node
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="billed", num_cache_nodes=3, apply_immediately=True), timeout=5)
    fleet.wait_status("billed", "available")
    assert describe_usage(fleet, noon, noon + HOUR, "billed") == {("billed", "cache.t1.micro"): 3}
    fleet.set_clock(noon + 2 * HOUR + 10 * 60)                       # 14:10: remove node 0001
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="billed", num_cache_nodes=2, cache_node_ids_to_remove=["0001"], apply_immediately=True),
        timeout=5)
    fleet.wait_status("billed", "available")
    wait_for(lambda: len(fleet.cluster("billed").cache_nodes) == 2, 10, what="node 0001 removed")
    # usage so far (14:10): three nodes in hours 12, 13 and 14
    assert describe_usage(fleet, noon, noon + 5 * HOUR) == {("billed", "cache.t1.micro"): 9}
    fleet.set_clock(noon + 4 * HOUR + 30 * 60)                       # 16:30
    # hours 12..16: 0002 and 0003 ran in all five, 0001 in 12, 13 and 14
    assert describe_usage(fleet, noon, noon + 5 * HOUR) == {("billed", "cache.t1.micro"): 13}
    assert describe_usage(fleet, noon + 3 * HOUR, noon + 4 * HOUR, "billed") == {("billed", "cache.t1.micro"): 2}

    iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat()  # noqa: E731
    out = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "describe-usage", "--endpoint", fleet.endpoint,
         "--start-time", iso(noon), "--end-time", iso(noon + 5 * HOUR)],
        env=fleet.cli_env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["UsageRecords"] == [{"CacheClusterId": "billed", "CacheNodeType": "cache.t1.micro",
                                     "Engine": "memcached", "NodeHours": 13}]
    assert data["StartTime"].startswith(iso(noon)[:19])
    text = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "describe-usage", "--endpoint", fleet.endpoint,
         "--start-time", iso(noon), "--end-time", iso(noon + 5 * HOUR), "--cache-cluster-id", "billed",
         "--output", "text"], env=fleet.cli_env(), capture_output=True, text=True, timeout=30)
    assert "USAGERECORDS\tbilled\tcache.t1.micro\tmemcached\t13" in text.stdout, text.stdout
