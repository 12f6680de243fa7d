"""Maintenance windows and rolling engine upgrades, with real engines and a shifted clock."""
from __future__ import annotations

import datetime
import time

import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import a_reconcile_cycle_passes, endpoint_of, serves_memcached
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.groups import Writer, client_for, create_group, group, primary_of, wait_group

REDIS_6 = "/opt/cachefleet/redis-6.0.9/redis-server"   # installed by scripts/setup


def monday(hour: int, minute: int = 0) -> float:
    """A Monday at hour:minute UTC (the most recent one, or today)."""
    now = datetime.datetime.now(datetime.UTC)
    day = now - datetime.timedelta(days=now.weekday())
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("maint"), hosts=3)
    f.set_clock(monday(2))          # an hour before the windows the tests use
    f.start()
    yield f
    f.discard()


def test_a_pending_change_runs_only_inside_its_window(fleet):
    fleet.set_clock(monday(2))
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="later", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        preferred_maintenance_window="mon:03:00-mon:04:00"), timeout=5)
    fleet.wait_status("later", "available")
    reply = fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="later", num_cache_nodes=2, apply_immediately=False), timeout=5)
    assert reply.cache_cluster.pending_modified_values.num_cache_nodes == 2
    assert reply.cache_cluster.cache_cluster_status == "available"
    # outside the window: whole reconcile cycles pass and the change waits
    a_reconcile_cycle_passes(fleet)
    cluster = fleet.cluster("later")
    assert len(cluster.cache_nodes) == 1 and cluster.pending_modified_values.num_cache_nodes == 2
    fleet.set_clock(monday(3, 1))   # inside mon:03:00-mon:04:00
    cluster = wait_for(lambda: (c := fleet.cluster("later")).cache_cluster_status == "available"
                       and len(c.cache_nodes) == 2 and c, 15, what="the pending change applied in the window")
    assert not cluster.pending_modified_values.HasField("num_cache_nodes")
    events = fleet.wait_event("later", "Maintenance finished")
    assert any(m.startswith("Maintenance started: adding 1 cache node") for m in events), events


def test_a_redis_group_upgrades_from_6_0_to_7_0_under_writes_losing_no_acknowledged_write(fleet):
    fleet.set_clock(monday(2))
    fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="patch", replication_group_description="6.0 to 7.0", num_cache_clusters=3,
        automatic_failover_enabled=True, cache_node_type="cache.t1.micro", engine_version="6.0"), timeout=5)
    g = wait_group(fleet, "patch")
    assert g.engine_version == "6.0.9"
    port = g.node_groups[0].primary_endpoint.port
    old_primary = primary_of(g).cache_cluster_id
    assert client_for(fleet, "patch.primary.cachefleet.test", port).info("server")["redis_version"] == "6.0.9"
    with Writer(fleet, "patch.primary.cachefleet.test", port) as writer:
        reply = fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id="patch", engine_version="7.0", apply_immediately=True), timeout=5)
        assert reply.replication_group.status == "modifying"
        g = wait_for(lambda: (d := group(fleet, "patch")) and d.status == "available"
                     and d.engine_version.startswith("7.0") and d, 90, interval=0.2, what="the upgrade to finish")
        done = len(writer.acked)
        wait_for(lambda: len(writer.acked) > done + 20, 10, what="writes after the upgrade")
    for member in g.node_groups[0].node_group_members:
        (address,) = fleet.resolve(member.read_endpoint.address)
        node = redis.Redis(host=address, port=port, socket_timeout=1)
        assert node.info("server")["redis_version"].startswith("7.0"), member.cache_cluster_id
    assert primary_of(g).cache_cluster_id != old_primary, "the primary is upgraded after a planned switch"
    primary = client_for(fleet, "patch.primary.cachefleet.test", port)
    values = primary.mget([f"w{n}" for n in writer.acked])
    lost = [n for n, v in zip(writer.acked, values) if v is None]
    assert lost == [], f"{len(lost)} acknowledged writes lost, first {lost[:5]}"
    events = fleet.events("patch")
    assert any(m.startswith("Switching the primary to") for m in events), events


def test_downgrading_a_major_version_is_refused(fleet):
    import grpc
    create_group(fleet, "major", clusters=1, failover=False, engine_version="7.0")
    assert wait_group(fleet, "major").engine_version.startswith("7.0")
    with pytest.raises(grpc.RpcError) as err:
        fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id="major", engine_version="6.0", apply_immediately=True), timeout=5)
    assert err.value.details().startswith("InvalidParameterCombination: ")
    assert group(fleet, "major").engine_version.startswith("7.0")


def test_auto_minor_version_upgrade_happens_in_the_window_and_never_crosses_a_major_version(fleet):
    fleet.set_clock(monday(2))
    fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="minor", replication_group_description="6.0.8, auto minor upgrades",
        num_cache_clusters=2, automatic_failover_enabled=True, cache_node_type="cache.t1.micro",
        engine_version="6.0.8", preferred_maintenance_window="mon:03:00-mon:04:00"), timeout=5)
    g = wait_group(fleet, "minor")
    assert g.engine_version == "6.0.8" and g.auto_minor_version_upgrade
    port = g.node_groups[0].primary_endpoint.port
    client_for(fleet, "minor.primary.cachefleet.test", port).set("kept", "yes")
    a_reconcile_cycle_passes(fleet)          # outside the window: nothing moves
    g = group(fleet, "minor")
    assert (g.engine_version, g.status) == ("6.0.8", "available")
    fleet.set_clock(monday(3, 1))
    g = wait_for(lambda: (d := group(fleet, "minor")) and d.status == "available" and d.engine_version == "6.0.9"
                 and d, 60, interval=0.2, what="the minor upgrade in the window")
    primary = client_for(fleet, "minor.primary.cachefleet.test", port)
    assert primary.info("server")["redis_version"] == "6.0.9"     # 6.0.9, not Debian's 7.0: minor only
    assert primary.get("kept") == b"yes"
    assert any("upgrading to redis 6.0.9" in m for m in fleet.events("minor"))


def test_a_requires_reboot_parameter_is_applied_by_a_reboot_in_the_window(fleet):
    from pymemcache.client.base import Client as Memcache
    fleet.set_clock(monday(2))
    fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name="slabs", cache_parameter_group_family="memcached1.6", description="d"), timeout=5)
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="slabby", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        cache_parameter_group_name="slabs", preferred_maintenance_window="mon:03:00-mon:04:00"), timeout=5)
    cluster = fleet.wait_status("slabby", "available")
    node = Memcache(endpoint_of(fleet, cluster, "0001"), timeout=2)
    fleet.stub.ModifyCacheParameterGroup(pb.ModifyCacheParameterGroupRequest(
        cache_parameter_group_name="slabs", parameter_name_values=[pb.ParameterNameValue(
            parameter_name="chunk_size_growth_factor", parameter_value="1.5")]), timeout=5)
    status = lambda: fleet.cluster("slabby").cache_parameter_group.parameter_apply_status  # noqa: E731
    wait_for(lambda: status() == "pending-reboot", 5, what="pending-reboot")
    a_reconcile_cycle_passes(fleet)          # outside the window it waits
    assert status() == "pending-reboot" and node.stats("settings")[b"growth_factor"] == 1.25
    fleet.set_clock(monday(3, 1))
    wait_for(lambda: status() == "in-sync" and fleet.cluster("slabby").cache_cluster_status == "available", 15,
             what="the reboot in the window")
    wait_for(lambda: node.stats("settings")[b"growth_factor"] == 1.5, 5, what="the new growth factor")
    events = fleet.events("slabby")
    assert any(m.startswith("Maintenance started: rebooting cache nodes 0001") for m in events), events
    assert "Maintenance finished" in events


def test_a_cluster_is_patched_node_by_node_and_serves_throughout(tmp_path):
    """Debian ships one memcached, so the second version is the same binary behind a wrapper
    that answers `-V` with 1.6.99: what is under test is the roll, node by node, with every
    node serving under its name, not memcached's own code."""
    wrapper = tmp_path / "memcached-1.6.99" / "memcached"
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\n[ "$1" = "-V" ] && { echo "memcached 1.6.99"; exit 0; }\n'
                       'exec /usr/bin/memcached "$@"\n')
    wrapper.chmod(0o755)
    fleet = Fleet(tmp_path / "fleet", hosts=3, engine_paths=[str(wrapper)]).start()
    try:
        fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id="roll", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=3,
            engine_version="1.6.18"), timeout=5)
        cluster = fleet.wait_status("roll", "available")
        endpoints = {n.cache_node_id: endpoint_of(fleet, cluster, n.cache_node_id) for n in cluster.cache_nodes}
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id="roll", engine_version="1.6.99", apply_immediately=True), timeout=5)
        seen_down: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            down = {node_id for node_id, ep in endpoints.items() if not serves_memcached(ep)}
            assert len(down) <= 1, f"more than one node down at once: {down}"
            seen_down |= down
            c = fleet.cluster("roll")
            if c.cache_cluster_status == "available" and c.engine_version == "1.6.99":
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the patch did not finish")
        events = fleet.events("roll")
        upgrades = [m for m in events if m.startswith("Upgrading cache node")]
        assert upgrades == [f"Upgrading cache node {n} to memcached 1.6.99" for n in ("0001", "0002", "0003")]
        assert all(serves_memcached(ep) for ep in endpoints.values())
        programs = [p.read_text() for h in fleet.hosts for p in (h.state_dir / "programs").glob("roll-*.conf")]
        assert len(programs) == 3 and all(str(wrapper) in text for text in programs)   # the 1.6.99 install
    finally:
        fleet.discard()
