"""Failover: whether the primary is dead, whom to promote, when to wait (decide_groups)."""
from __future__ import annotations

from coordinator.domain.model import NodeStatus
from coordinator.reconcile.actions import NoAction, Wait
from coordinator.reconcile.decide_groups import (
    CUT_OFF_SECONDS, FRESH_OFFSETS_SECONDS, GUARD_SECONDS, FenceCutOff, HoldReplicas, NoCandidate, Promote, best_replica,
    decide_failover, primary_down)
from tests.helpers.decisions import group, member, primary, replica, report, view

NOW = 1000.0
MEMBERS = ["g-001", "g-002", "g-003"]


def three(reports, live=None, **group_options):
    clusters = [member("g-001", "h1"), member("g-002", "h2"), member("g-003", "h3")]
    return view(group(MEMBERS, **group_options), clusters, reports, live)


def dead_primary(**replicas):
    return {"g-001": report(status="failed", role="primary"), **replicas}


def test_promotes_the_replica_with_the_highest_offset_reported_after_the_death():
    action, _ = decide_failover(three(dead_primary(**{"g-002": replica(100), "g-003": replica(250)})), None, NOW)
    assert action == Promote("g", "g-003", "g-001", "highest replication offset (250) of the serving replicas")
    assert action.sentence == "g: promoted g-003 after primary g-001 failed"
    assert action.events == ("Failover from primary node g-001-0001 to replica node g-003-0001 completed",
                             "Recovering cache nodes g-001-0001")


def test_waits_while_a_replica_still_reports_its_link_to_the_dead_primary_up():
    action, since = decide_failover(three(dead_primary(**{"g-002": replica(100, link="up"),
                                                          "g-003": replica(90)})), None, NOW)
    assert action == Wait("replica g-002 still reports its link to g-001 up")
    assert action.sentence == ""
    assert since == NOW


def test_keeps_waiting_for_the_broken_link_within_the_fresh_offsets_delay():
    observed = three(dead_primary(**{"g-002": replica(100, link="up"), "g-003": replica(90)}))
    action, since = decide_failover(observed, NOW - FRESH_OFFSETS_SECONDS / 2, NOW)
    assert isinstance(action, Wait)
    assert since == NOW - FRESH_OFFSETS_SECONDS / 2


def test_stops_waiting_for_the_broken_link_after_the_fresh_offsets_delay():
    observed = three(dead_primary(**{"g-002": replica(100, link="up"), "g-003": replica(90)}))
    action, since = decide_failover(observed, NOW - FRESH_OFFSETS_SECONDS - 0.01, NOW)
    assert action.sentence == "g: promoted g-002 after primary g-001 failed"
    assert since is None


def test_remembers_when_the_death_was_first_seen_while_no_replica_can_be_promoted():
    action, since = decide_failover(three(dead_primary()), None, NOW)
    assert isinstance(action, NoCandidate)
    assert since == NOW


def test_promotes_at_once_when_the_replicas_find_the_lost_hosts_engine_port_closed():
    observed = three({"g-002": replica(100, link="up", sight="refused", unseen_ms=300),
                      "g-003": replica(90, sight="silent", unseen_ms=300)}, live={"h2", "h3"})
    action, since = decide_failover(observed, None, NOW)
    assert action.sentence == "g: promoted g-002 after primary g-001 failed"
    assert since is None


def test_waits_out_the_engines_own_guard_when_the_lost_hosts_primary_is_silent():
    observed = three({"g-002": replica(100, sight="silent", unseen_ms=1000),
                      "g-003": replica(90, sight="silent", unseen_ms=1500)}, live={"h2", "h3"})
    action, since = decide_failover(observed, None, NOW)
    assert action == Wait(f"g-001 may take writes until its own guard fences it in {GUARD_SECONDS - 1:.1f} s")
    assert since == NOW


def test_promotes_once_the_guard_has_surely_fenced_the_silent_primary():
    observed = three({"g-002": replica(100, sight="silent", unseen_ms=int(GUARD_SECONDS * 1000)),
                      "g-003": replica(90, sight="silent", unseen_ms=int(GUARD_SECONDS * 1000) + 200)},
                     live={"h2", "h3"})
    action, _ = decide_failover(observed, None, NOW)
    assert isinstance(action, Promote) and action.member == "g-002"


def test_the_guard_is_counted_from_when_the_failover_was_first_considered_if_sightings_restart():
    observed = three({"g-002": replica(100, sight="silent", unseen_ms=-1)}, live={"h2", "h3"})
    action, _ = decide_failover(observed, NOW - GUARD_SECONDS, NOW)
    assert isinstance(action, Promote)
    action, _ = decide_failover(observed, NOW - 1, NOW)
    assert isinstance(action, Wait)


def test_says_it_cannot_promote_when_no_replica_has_reported():
    action, _ = decide_failover(three(dead_primary()), None, NOW)
    assert action == NoCandidate("g", "g-001")
    assert action.sentence == "g: Primary node g-001-0001 failed and no replica can be reached to promote"
    assert action.events == ("Primary node g-001-0001 failed and no replica can be reached to promote",)


def test_never_promotes_a_replica_in_the_middle_of_a_full_sync():
    action, _ = decide_failover(three(dead_primary(**{"g-002": replica(100), "g-003": replica(900, syncing=True)})),
                                None, NOW)
    assert isinstance(action, Promote) and action.member == "g-002"


def test_never_promotes_a_replica_whose_engine_failed_or_is_starting():
    reports = dead_primary(**{"g-002": replica(900, status="failed"), "g-003": replica(800, status="starting")})
    action, _ = decide_failover(three(reports), None, NOW)
    assert isinstance(action, NoCandidate)


def test_never_promotes_a_replica_whose_host_is_lost():
    observed = three(dead_primary(**{"g-002": replica(100), "g-003": replica(900)}), live={"h1", "h2"})
    action, _ = decide_failover(observed, None, NOW)
    assert isinstance(action, Promote) and action.member == "g-002"


def test_equal_offsets_go_to_the_first_member():
    action, _ = decide_failover(three(dead_primary(**{"g-003": replica(100), "g-002": replica(100)})), None, NOW)
    assert isinstance(action, Promote) and action.member == "g-002"


def test_a_primary_without_replicas_is_left_to_be_restarted():
    observed = view(group(["g-001"]), [member("g-001", "h1")], {"g-001": report(status="failed")})
    action, _ = decide_failover(observed, None, NOW)
    assert action == NoAction("no replica follows the primary: it is simply restarted")
    assert action.sentence == ""


def test_with_automatic_failover_off_the_replicas_are_held_read_only_with_their_data():
    action, since = decide_failover(three(dead_primary(**{"g-002": replica(100)}), automatic_failover=False),
                                    None, NOW)
    assert action == HoldReplicas("g", "g-001")
    assert action.sentence == (
        "g: Primary node g-001-0001 failed; automatic failover is disabled, so the replicas are detached and "
        "kept read-only with their data (never to follow a primary that comes back empty) until a new primary "
        "is chosen")
    assert since is None


def test_replicas_already_held_are_left_held():
    observed = three(dead_primary(**{"g-002": replica(100)}), automatic_failover=False, primary_failed=True)
    action, _ = decide_failover(observed, None, NOW)
    assert action == NoAction("automatic failover is disabled and the replicas are already held")


def test_the_best_replica_is_the_serving_one_furthest_ahead():
    observed = three({"g-002": replica(5), "g-003": replica(7)})
    assert best_replica(observed) == "g-003"


def test_a_primary_whose_engine_reports_failed_or_stopped_is_down():
    for status in ("failed", "stopped"):
        assert primary_down(three({"g-001": report(status=status)}))


def test_a_primary_that_reports_available_is_not_down():
    assert not primary_down(three({"g-001": primary(10)}))


def test_a_primary_without_a_report_on_a_live_host_is_not_down_no_evidence_from_the_data_plane():
    assert not primary_down(three({}))


def test_a_primary_still_being_created_is_never_down():
    clusters = [member("g-001", "h1", node_status=NodeStatus.CREATING), member("g-002", "h2")]
    observed = view(group(["g-001", "g-002"]), clusters, {"g-001": report(status="failed")}, live={"h2"})
    assert not primary_down(observed)


def test_a_quiet_primary_host_whose_engine_its_replicas_still_reach_is_not_down():
    """A frozen, restarting or cut-off agent: the engine serves its replicas, so no failover."""
    assert not primary_down(three({"g-002": replica(1, link="up", sight="seen"),
                                   "g-003": replica(1, sight="silent", unseen_ms=900)}, live={"h2", "h3"}))


def test_a_quiet_primary_host_none_of_whose_replicas_reaches_its_engine_is_down():
    assert primary_down(three({"g-002": replica(1, sight="silent", unseen_ms=900),
                               "g-003": replica(1, sight="refused", unseen_ms=900)}, live={"h2", "h3"}))


def test_an_older_agent_without_sightings_speaks_through_its_replication_link():
    assert not primary_down(three({"g-002": replica(1, link="up")}, live={"h2", "h3"}))
    assert primary_down(three({"g-002": replica(1, link="down")}, live={"h2", "h3"}))


def test_a_quiet_primary_host_with_no_replica_reporting_is_no_evidence():
    """The coordinator cut off from the whole group sees nothing of the data plane."""
    assert not primary_down(three({}, live=set()))


# -- a primary that serves but that its replicas cannot reach (its host stays live) -------------

CUT_MS = int(CUT_OFF_SECONDS * 1000)


def cut(primary_report, unseen_ms=CUT_MS, **overrides):
    """All three hosts live; the replicas' links may still show up (redis's repl-timeout)."""
    reports = {"g-001": primary_report, "g-002": replica(100, link="up", sight="silent", unseen_ms=unseen_ms),
               "g-003": replica(90, link="up", sight="silent", unseen_ms=unseen_ms + 100), **overrides}
    return three(reports, live={"h1", "h2", "h3"})


def test_a_guarded_primary_none_of_whose_replicas_reaches_it_for_the_cut_off_time_is_down():
    assert primary_down(cut(primary(guard=True)))
    assert not primary_down(cut(primary(guard=True), unseen_ms=CUT_MS - 1)), "not before the cut-off time"
    assert not primary_down(cut(primary(guard=True), **{"g-003": replica(90, sight="seen")})), "one reaches it"


def test_an_unguarded_primary_takes_writes_without_its_replicas_so_losing_them_is_no_failover():
    """E.g. the old primary just demoted behind the cut never linked to the new one."""
    assert not primary_down(cut(primary()))


def test_a_cut_off_primary_is_fenced_through_its_agent_before_a_replica_is_promoted():
    action, since = decide_failover(cut(primary(guard=True)), None, NOW)
    assert action == FenceCutOff("g", "g-001")
    assert action.sentence == "g: fencing primary g-001, cut off from its replicas, before a failover"
    assert since == NOW


def test_once_fenced_the_cut_off_primary_is_replaced_by_the_replica_furthest_ahead_links_up_or_not():
    action, since = decide_failover(cut(primary(guard=True, fenced=True)), NOW - 0.5, NOW)
    assert action == Promote("g", "g-002", "g-001", "highest replication offset (100) of the serving replicas", True)
    assert action.sentence == "g: promoted g-002 after primary g-001 was cut off from its replicas"
    assert action.events[0] == ("Failover from primary node g-001-0001 to replica node g-002-0001 completed (no "
                                f"replica had reached g-001-0001 for {CUT_OFF_SECONDS:g} s: it refused writes, "
                                "guarded by replicas it could not reach)")
    assert since is None
