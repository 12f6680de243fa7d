"""Node-type changes that need other hosts: one replica at a time, the primary last (decide_move)."""
from __future__ import annotations

from coordinator.domain.model import ClusterStatus, GroupStatus, NodeMove
from coordinator.reconcile.actions import Wait
from coordinator.reconcile.decide_groups import HandOver, Move, decide_move
from tests.helpers.decisions import group, member, replica, view

TARGET = NodeMove(host_id="h9", zone="b", address="10.0.0.9")


def scaling(moves, statuses=None):
    statuses = statuses or {}
    clusters = [member(m, f"h{i}", move=TARGET if m in moves else None,
                       status=statuses.get(m, ClusterStatus.AVAILABLE)) for i, m in enumerate(("g-001", "g-002", "g-003"), 1)]
    grp = group(["g-001", "g-002", "g-003"], status=GroupStatus.MODIFYING, node_type="cache.m1.small")
    return view(grp, clusters, {"g-002": replica(20), "g-003": replica(30)})


def test_moves_a_replica_first():
    action = decide_move(scaling({"g-001", "g-002"}))
    assert action == Move("g", "g-002", "h9", "cache.m1.small")
    assert action.sentence == "g: moving g-002 to h9"
    assert action.events == ("Moving g-002 to host h9 for the memory of a cache.m1.small node",)


def test_moves_nothing_while_another_member_is_not_available():
    observed = scaling({"g-002"}, {"g-003": ClusterStatus.MODIFYING})
    assert decide_move(observed) == Wait("g-003 is not available")


def test_a_member_waiting_for_its_own_move_does_not_hold_up_another():
    observed = scaling({"g-002", "g-003"}, {"g-003": ClusterStatus.MODIFYING})
    assert isinstance(decide_move(observed), Move)


def test_hands_the_primary_role_over_before_moving_the_primary():
    action = decide_move(scaling({"g-001"}))
    assert action == HandOver("g", "g-003", "g-001", "move")
    assert action.sentence == "g: switching to g-003 to move g-001"
