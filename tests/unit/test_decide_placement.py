"""Where nodes whose host is lost are re-created: one group member per host, their zone when
preferred, any host with room rather than none (decide_placement)."""
from __future__ import annotations

from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
from coordinator.domain.placement import account_usage
from coordinator.reconcile.decide_placement import plan_recovery
from tests.helpers.decisions import host, member


def fleet(*hosts, charged=()):
    views = {h.host_id: h for h in hosts}
    account_usage(views, list(charged))
    return views


def group_of_three(lost_zone="a", preferred=()):
    members = [member("g-001", "h1"), member("g-002", "h2", zone=lost_zone), member("g-003", "h3")]
    members[1].preferred_zones = list(preferred)
    return members


def recover(cluster, clusters, views):
    homeless = [n for n in cluster.nodes.values() if n.host_id not in views]
    return plan_recovery(cluster, clusters, homeless, views)


def test_a_lost_member_goes_to_a_host_without_another_member_of_its_group():
    members = group_of_three()
    views = fleet(host("h1"), host("h3"), host("h4"), charged=[members[0], members[2]])
    plan = recover(members[1], members, views)
    assert {n: s.host.host_id for n, s in plan.placed.items()} == {"0001": "h4"}
    assert plan.sentence == "placed g-002-0001 on h4"
    assert plan.events == ("Recovering cache nodes 0001 on host h4",)


def test_a_lost_member_shares_a_host_rather_than_having_none():
    members = group_of_three()
    views = fleet(host("h1"), host("h3", memory_mb=8192), charged=[members[0], members[2]])
    plan = recover(members[1], members, views)
    assert plan.placed["0001"].host.host_id == "h3"


def test_a_node_goes_back_to_its_preferred_zone():
    members = group_of_three(lost_zone="b", preferred=["b"])
    views = fleet(host("h1"), host("h3"), host("h4", zone="c", memory_mb=65536), host("h5", zone="b"),
                  charged=[members[0], members[2]])
    assert recover(members[1], members, views).placed["0001"].host.host_id == "h5"


def test_a_node_leaves_its_preferred_zone_when_no_host_there_has_room():
    members = group_of_three(lost_zone="b", preferred=["b"])
    views = fleet(host("h1"), host("h3"), host("h4", zone="c"), host("h5", zone="b", memory_mb=100),
                  charged=[members[0], members[2]])
    assert recover(members[1], members, views).placed["0001"].host.host_id == "h4"


def test_nodes_of_one_cluster_are_spread_over_hosts():
    nodes = {i: Node(i, status=NodeStatus.AVAILABLE, host_id="lost") for i in ("0001", "0002")}
    cluster = Cluster("m", "memcached", "1.6.21", "cache.t1.micro", 11211, status=ClusterStatus.AVAILABLE, nodes=nodes)
    views = fleet(host("h1", versions=("1.6.21",), engine="memcached"), host("h2", versions=("1.6.21",),
                                                                            engine="memcached"))
    plan = recover(cluster, [cluster], views)
    assert sorted(s.host.host_id for s in plan.placed.values()) == ["h1", "h2"]


def test_a_node_no_host_can_take_is_failed_with_the_reason_once():
    members = group_of_three()
    views = fleet(host("h1", memory_mb=100), charged=[members[0]])
    plan = recover(members[1], members, views)
    why = ("No host has 213 MB free for another cache.t1.micro node of cache cluster g-002 "
           "(free: h1 0 MB; 3 nodes wanted, 1 not placed).")
    assert plan.failed == {"0001": why}
    assert plan.sentence == "no host for g-002-0001"
    assert plan.events == (f"Cache node 0001 could not be recovered: {why}",)
    members[1].nodes["0001"].status = NodeStatus.FAILED
    again = recover(members[1], members, views)
    assert again.failed == {"0001": why}
    assert (again.sentence, again.events) == ("", ())


def test_a_host_without_the_engine_version_is_never_chosen():
    members = group_of_three()
    views = fleet(host("h4", versions=("7.2.4",)), host("h5"))
    assert recover(members[1], members, views).placed["0001"].host.host_id == "h5"
