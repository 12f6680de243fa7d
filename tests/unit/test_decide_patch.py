"""Rolling engine patches: replicas first, one at a time, then the primary's role handed over,
then the old primary (decide_patch; changes.roll_upgrade for a standalone cluster)."""
from __future__ import annotations

from coordinator.domain import changes
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, Node, NodeStatus
from coordinator.reconcile.actions import Wait
from coordinator.reconcile.decide_groups import HandOver, Upgrade, decide_patch
from tests.helpers.decisions import group, member, replica, view

OLD, NEW = "7.0.15", "7.0.16"


def patching(versions, statuses=None, primary_id="g-001", reports=None):
    statuses = statuses or {}
    clusters = [member(m, f"h{i}", version=v, status=statuses.get(m, ClusterStatus.AVAILABLE))
                for i, (m, v) in enumerate(versions.items(), 1)]
    reports = reports if reports is not None else {m: replica(10 * i) for i, m in enumerate(versions, 1)
                                                   if m != primary_id}
    grp = group(list(versions), primary_id, status=GroupStatus.MODIFYING, version=NEW)
    return view(grp, clusters, reports)


def test_upgrades_a_replica_first():
    action = decide_patch(patching({"g-001": OLD, "g-002": OLD, "g-003": OLD}))
    assert action == Upgrade("g", "g-002", NEW, "the next replica behind the group's version")
    assert action.sentence == "g: upgrading g-002"
    assert action.events == ("Upgrading g-002 to redis 7.0.16",)


def test_upgrades_one_member_at_a_time():
    observed = patching({"g-001": OLD, "g-002": NEW, "g-003": OLD}, {"g-002": ClusterStatus.MODIFYING})
    assert decide_patch(observed) == Wait("g-002 is not available")


def test_moves_on_to_the_next_replica_once_the_first_serves_again():
    action = decide_patch(patching({"g-001": OLD, "g-002": NEW, "g-003": OLD}))
    assert isinstance(action, Upgrade) and action.member == "g-003"


def test_hands_the_primary_role_to_the_replica_furthest_ahead_before_upgrading_the_primary():
    action = decide_patch(patching({"g-001": OLD, "g-002": NEW, "g-003": NEW}))
    assert action == HandOver("g", "g-003", "g-001", "upgrade")
    assert action.sentence == "g: switching to g-003 to upgrade g-001"
    assert action.events == ("Switching the primary to g-003 to upgrade g-001",)


def test_does_not_hand_over_while_a_replica_is_not_available():
    observed = patching({"g-001": OLD, "g-002": NEW, "g-003": NEW}, {"g-002": ClusterStatus.MODIFYING})
    assert decide_patch(observed) == Wait("a replica is not available")


def test_does_not_hand_over_when_no_replica_can_take_the_role():
    observed = patching({"g-001": OLD, "g-002": NEW}, reports={})
    assert decide_patch(observed) == Wait("no replica can take the primary's role")


def test_the_old_primary_is_upgraded_last_as_a_replica():
    action = decide_patch(patching({"g-001": OLD, "g-002": NEW, "g-003": NEW}, primary_id="g-003"))
    assert action == Upgrade("g", "g-001", NEW, "the next replica behind the group's version")


def test_a_group_without_replicas_upgrades_its_primary_in_place():
    action = decide_patch(patching({"g-001": OLD}))
    assert action == Upgrade("g", "g-001", NEW, "the next primary behind the group's version")


def standalone(*versions, statuses=()):
    nodes = {f"{i:04d}": Node(f"{i:04d}", status=(statuses[i - 1] if statuses else NodeStatus.AVAILABLE),
                              host_id=f"h{i}", engine_version=v) for i, v in enumerate(versions, 1)}
    return Cluster("c", "memcached", NEW, "cache.t1.micro", 11211, status=ClusterStatus.MODIFYING, nodes=nodes)


def test_a_standalone_cluster_patches_its_lowest_node_first():
    cluster = standalone(OLD, OLD)
    assert changes.roll_upgrade(cluster) == "0001"
    assert cluster.nodes["0001"].status == NodeStatus.MODIFYING


def test_a_standalone_cluster_patches_no_node_while_another_is_restarting():
    cluster = standalone("", OLD, statuses=(NodeStatus.MODIFYING, NodeStatus.AVAILABLE))
    assert changes.roll_upgrade(cluster) is None
