"""A host gone quiet: what is and is not taken as evidence that its engines died
(decide_clusters, and decide_groups.primary_down for a primary with replicas)."""
from __future__ import annotations

from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
from coordinator.domain.roles import PRIMARY, Role
from coordinator.reconcile.decide_clusters import HostLost, dead_protected, homeless, node_status
from coordinator.reconcile.decide_groups import primary_down
from tests.helpers.decisions import group, member, primary, replica, report, view


def memcached(*hosts, statuses=()):
    nodes = {f"{i:04d}": Node(f"{i:04d}", status=(statuses[i - 1] if statuses else NodeStatus.AVAILABLE), host_id=h)
             for i, h in enumerate(hosts, 1)}
    return Cluster("c", "memcached", "1.6.21", "cache.t1.micro", 11211, status=ClusterStatus.AVAILABLE, nodes=nodes)


def test_a_lost_host_is_logged_and_recorded_with_its_timeout():
    lost = HostLost("h1", 3.0)
    assert lost.sentence == "host h1 lost"
    assert lost.events == ("Host h1 lost: no heartbeat for 3.0 s",)


def test_nodes_on_a_lost_host_are_re_created_elsewhere():
    cluster = memcached("h1", "h2")
    assert [n.node_id for n in homeless(cluster, {"h2"}, set())] == ["0001"]


def test_a_node_that_never_found_a_host_is_placed():
    cluster = memcached(None, "h2")
    assert [n.node_id for n in homeless(cluster, {"h2"}, set())] == ["0001"]


def test_a_node_being_deleted_is_not_re_created():
    cluster = memcached("h1", statuses=(NodeStatus.DELETING,))
    assert homeless(cluster, set(), set()) == []


def test_a_primary_with_replicas_on_a_lost_host_is_never_re_created_in_place():
    assert homeless(member("g-001", "h1"), {"h2"}, {"g-001"}) == []


def test_a_replica_on_a_lost_host_is_re_created_elsewhere():
    assert [n.node_id for n in homeless(member("g-002", "h2"), {"h1"}, {"g-001"})] == ["0001"]


def test_a_lost_host_leaves_its_nodes_status_as_it_was():
    cluster = memcached("h1")
    node = cluster.nodes["0001"]
    assert node_status(cluster, node, Role(), report(status="failed"), host_live=False, spec_current=True) \
        == (None, "")


def test_a_host_late_with_its_heartbeat_is_not_a_dead_primary():
    clusters = [member("g-001", "h1"), member("g-002", "h2")]
    observed = view(group(["g-001", "g-002"]), clusters, {"g-001": primary(5), "g-002": replica(5, link="up")})
    assert not primary_down(observed)


def test_a_protected_primary_on_a_lost_host_is_not_restarted():
    assert dead_protected(member("g-001", "h1"), {"g-001"}, host_live=False, reported=None)


def test_a_protected_primary_whose_engine_stopped_is_not_restarted():
    assert dead_protected(member("g-001", "h1"), {"g-001"}, host_live=True, reported=report(status="stopped"))


def test_a_serving_protected_primary_is_kept_running():
    assert not dead_protected(member("g-001", "h1"), {"g-001"}, host_live=True, reported=primary(1))


def test_an_unprotected_node_on_a_lost_host_is_left_to_placement():
    assert not dead_protected(member("c", "h1", group_id=""), set(), host_live=False, reported=None)


def test_a_primary_without_replicas_is_not_protected_and_restarts_in_place():
    assert PRIMARY.role == "primary"
    assert not dead_protected(member("g-001", "h1"), set(), host_live=True, reported=report(status="failed"))


def _standalone(engine: str, host_id: str = "h1") -> Cluster:
    return Cluster("s", engine, "7.0.15" if engine == "redis" else "1.6.18", "cache.t1.micro", 6379,
                   status=ClusterStatus.AVAILABLE, nodes={"0001": Node("0001", NodeStatus.AVAILABLE, host_id)})


def test_a_standalone_redis_node_waits_on_its_lost_host_for_the_grace_period():
    cluster = _standalone("redis")
    assert homeless(cluster, {"h2"}, set(), {"h1": 299.0}, standalone_grace=300.0) == []
    assert [n.node_id for n in homeless(cluster, {"h2"}, set(), {"h1": 300.0}, standalone_grace=300.0)] == ["0001"]


def test_a_memcached_node_is_recreated_at_once_its_data_is_a_cache():
    assert [n.node_id for n in homeless(_standalone("memcached"), {"h2"}, set(), {"h1": 1.0},
                                        standalone_grace=300.0)] == ["0001"]


def test_a_group_replica_is_recreated_at_once_its_primary_holds_the_data():
    assert [n.node_id for n in homeless(member("g-002", "h1"), {"h2"}, {"g-001"}, {"h1": 1.0},
                                        standalone_grace=300.0)] == ["0001"]


def test_a_standalone_redis_node_on_a_host_the_registry_forgot_has_waited_long_enough():
    assert [n.node_id for n in homeless(_standalone("redis", "gone"), {"h2"}, set(), {},
                                        standalone_grace=300.0)] == ["0001"]
