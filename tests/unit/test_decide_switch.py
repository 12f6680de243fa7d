"""Planned switches (TestFailover, ModifyReplicationGroup --primary-cluster-id): decide_switch."""
from __future__ import annotations

from coordinator.reconcile.actions import Wait
from coordinator.reconcile.decide_groups import (
    FENCE_SETTLE_SECONDS, SWITCH_TIMEOUT_SECONDS, AbortSwitch, Switch, decide_switch)
from tests.helpers.decisions import group, member, primary, replica, view

STARTED = 5000.0
MONO = 100.0


def switching(reports):
    clusters = [member("g-001", "h1"), member("g-002", "h2")]
    return view(group(["g-001", "g-002"], switch_to="g-002", switch_started=STARTED), clusters, reports)


def settled():
    return MONO - FENCE_SETTLE_SECONDS


def test_switches_once_the_fenced_primary_has_settled_and_the_target_caught_up():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(500, link="up")})
    action, seen = decide_switch(observed, STARTED + 1, settled(), MONO)
    assert action == Switch("g", "g-001", "g-002", 500)
    assert action.sentence == "g: switched primary g-001 -> g-002"
    assert action.events == ("Failover from primary node g-001-0001 to replica node g-002-0001 completed "
                             "(planned; replica caught up at offset 500)",)
    assert seen is None


def test_waits_until_the_old_primary_refuses_writes():
    observed = switching({"g-001": primary(500), "g-002": replica(500, link="up")})
    action, seen = decide_switch(observed, STARTED + 1, None, MONO)
    assert action == Wait("g-001 is not yet write-fenced")
    assert action.sentence == ""
    assert seen is None


def test_waits_for_the_fenced_primary_offset_to_settle():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(500, link="up")})
    action, seen = decide_switch(observed, STARTED + 1, None, MONO)
    assert action == Wait("g-001's offset may still move")
    assert seen == MONO


def test_waits_while_the_target_is_behind_the_old_primary():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(499, link="up")})
    action, seen = decide_switch(observed, STARTED + 1, settled(), MONO)
    assert action == Wait("g-002 is behind g-001")
    assert seen == settled()


def test_waits_while_the_target_is_not_linked_to_the_old_primary():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(500, link="down")})
    action, _ = decide_switch(observed, STARTED + 1, settled(), MONO)
    assert action == Wait("g-002 is not linked to g-001")


def test_waits_while_a_member_has_not_reported():
    action, _ = decide_switch(switching({"g-001": primary(500, fenced=True)}), STARTED + 1, settled(), MONO)
    assert action == Wait("the old primary or the target has not reported")


def test_aborts_a_switch_the_replica_could_not_finish_in_time():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(10, link="up")})
    action, seen = decide_switch(observed, STARTED + SWITCH_TIMEOUT_SECONDS + 0.1, settled(), MONO)
    assert action == AbortSwitch("g", "g-002", "g-001", "the replica did not catch up in time")
    assert action.sentence == "g: switch aborted"
    assert action.events == ("Planned switch to g-002 aborted: the replica did not catch up in time; "
                             "g-001 stays primary",)
    assert seen is None


def test_a_target_ahead_of_the_old_primary_may_take_over():
    observed = switching({"g-001": primary(500, fenced=True), "g-002": replica(501, link="up")})
    action, _ = decide_switch(observed, STARTED + 1, settled(), MONO)
    assert isinstance(action, Switch) and action.offset == 501
