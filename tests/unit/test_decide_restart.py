"""A group whose every member stopped: whether it did, whom it comes back from, what its
events say (decide_restart)."""
from __future__ import annotations

import datetime

from coordinator.domain.model import NodeStatus
from coordinator.reconcile.actions import Wait
from coordinator.reconcile.decide_restart import (
    RESTART_WAIT_SECONDS, NoCopy, RestartGroup, decide_restart, every_member_stopped, freshest)
from tests.helpers.decisions import group, member, primary, replica, report, started, view

NOW = 1000.0
MEMBERS = ["g-001", "g-002", "g-003"]
# 2026-01-02 03:04:05 UTC, in ms: when the tests' data is saved
SAVED = int(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC).timestamp() * 1000)
WALL = SAVED + 60_000       # the hosts' clock when the group comes back: a minute later


def three(reports, live=None, primary_status=NodeStatus.AVAILABLE, **group_options):
    clusters = [member("g-001", "h1", node_status=primary_status), member("g-002", "h2"), member("g-003", "h3")]
    return view(group(MEMBERS, **group_options), clusters, reports, live)


def held(source="aof", saved_ms=SAVED, **more):
    """The primary after a restart: its agent holds it down, it says what a start would load."""
    return started(report(status="stopped", role="primary"), source, saved_ms, **more)


def reloaded(source="aof", saved_ms=SAVED, **more):
    """A replica started again by its agent: it serves what it loaded, linked to nobody since."""
    return started(replica(0), source, saved_ms, **more)


def restarted(**reports):
    return three({"g-001": held(), "g-002": reloaded(), "g-003": reloaded(), **reports})


# -- whether every member stopped -----------------------------------------------------------------

def test_a_group_whose_primary_is_held_down_and_whose_replicas_reloaded_has_stopped_whole():
    assert every_member_stopped(restarted())


def test_a_replica_linked_since_its_start_kept_the_data_so_the_failover_rules_apply():
    assert not every_member_stopped(restarted(**{"g-003": started(replica(500), linked=True)}))
    assert not every_member_stopped(restarted(**{"g-003": started(replica(500, link="up"))}))


def test_a_down_primary_whose_replicas_are_not_heard_of_yet_waits_to_hear_them():
    assert every_member_stopped(three({"g-001": held()}))


def test_nothing_is_known_stopped_before_any_member_has_reported():
    assert not every_member_stopped(three({}))


def test_a_serving_primary_is_no_restart_even_with_reloaded_replicas():
    assert not every_member_stopped(restarted(**{"g-001": started(primary(), "aof", SAVED)}))


def test_a_member_whose_agent_does_not_say_what_it_loads_leaves_the_group_to_the_failover_rules():
    assert not every_member_stopped(restarted(**{"g-002": replica(0)}))


def test_a_group_being_created_a_single_member_and_a_held_group_are_no_restart():
    reports = {"g-001": held(), "g-002": reloaded(), "g-003": reloaded()}
    assert not every_member_stopped(three(reports, primary_status=NodeStatus.CREATING))
    assert not every_member_stopped(three(reports, primary_failed=True))
    alone = view(group(["g-001"]), [member("g-001", "h1")], {"g-001": held()})
    assert not every_member_stopped(alone)


# -- whom it comes back from ---------------------------------------------------------------------

def test_the_primary_comes_back_when_its_append_only_file_is_as_fresh_as_its_replicas():
    observed = restarted(**{"g-002": reloaded(saved_ms=SAVED + 400), "g-003": reloaded(saved_ms=SAVED + 300)})
    action, since = decide_restart(observed, None, NOW, WALL)
    assert action == RestartGroup("g", "g-001", "g-001", observed.report("g-001").start_data, 60.0)
    assert since is None
    assert action.sentence == "g: every member had stopped; restarting primary g-001, the freshest copy"
    assert action.events == (
        "Replication group restarted after every member stopped: g-001-0001 came back as primary with the "
        "freshest data, from its append-only file saved at 2026-01-02 03:04:05 UTC (60 s before the restart)",)


def test_a_replica_whose_data_is_fresher_than_the_empty_primary_becomes_primary_and_says_what_was_lost():
    observed = restarted(**{"g-001": held("empty", 0, last_write_ms=SAVED + 30_000, keys=200),
                            "g-002": reloaded("rdb", SAVED - 5000), "g-003": reloaded("rdb", SAVED)})
    action, _ = decide_restart(observed, None, NOW, WALL)
    assert isinstance(action, RestartGroup) and action.member == "g-003" and action.old == "g-001"
    assert action.sentence == "g: every member had stopped; promoting g-003, the freshest copy"
    assert action.lost_seconds == 30.0
    assert action.events == (
        "Replication group restarted after every member stopped: g-003-0001 is primary in place of g-001-0001 "
        "with the freshest data, from its RDB file saved at 2026-01-02 03:04:05 UTC (60 s before the restart); "
        "appendonly is no: writes since that file was saved are lost",
        "Writes to replication group g lost: its freshest copy is 30 s older than what it had acknowledged "
        "(its last write was at 2026-01-02 03:04:35 UTC, when it held 200 keys)")


def test_a_primary_whose_data_is_clearly_older_than_a_replicas_gives_way_to_it():
    observed = restarted(**{"g-001": held(saved_ms=SAVED - 5000), "g-002": reloaded(saved_ms=SAVED)})
    assert freshest(observed) == "g-002"


def test_between_replicas_of_the_same_freshness_the_first_member_wins():
    observed = restarted(**{"g-001": held("empty", 0)})
    assert freshest(observed) == "g-002"


def test_a_member_that_cannot_start_is_never_chosen():
    observed = restarted(**{"g-001": started(report(status="failed", role="primary"), "aof", SAVED + 9000)})
    assert freshest(observed) == "g-002"


def test_no_member_that_can_start_is_said_once_and_waited_out():
    dead = started(report(status="failed", role="replica"), "aof", SAVED)
    observed = three({"g-001": started(report(status="failed", role="primary"), "aof", SAVED),
                      "g-002": dead, "g-003": dead})
    action, since = decide_restart(observed, None, NOW, WALL)
    assert action == NoCopy("g")
    assert action.events == ("Every member of replication group g stopped and none can be started",)
    assert since == NOW


def test_a_group_with_nothing_saved_anywhere_comes_back_empty_and_says_its_data_is_lost():
    observed = restarted(**{"g-001": held("empty", 0, last_write_ms=SAVED, keys=3),
                            "g-002": reloaded("empty", 0), "g-003": reloaded("empty", 0)})
    action, _ = decide_restart(observed, None, NOW, WALL)
    assert isinstance(action, RestartGroup) and action.member == "g-001"
    assert action.events == (
        "Replication group restarted after every member stopped: g-001-0001 came back as primary, empty: "
        "no member had its data saved (appendonly is no)",
        "Data of replication group g lost: no member kept a copy; its last write was at "
        "2026-01-02 03:04:05 UTC, when it held 3 keys")


def test_a_last_write_within_a_second_of_the_save_is_no_loss():
    observed = restarted(**{"g-001": held(saved_ms=SAVED, last_write_ms=SAVED + 900, keys=5)})
    action, _ = decide_restart(observed, None, NOW, WALL)
    assert isinstance(action, RestartGroup) and action.lost_seconds == 0 and len(action.events) == 1


# -- waiting to hear every member ------------------------------------------------------------------

def test_waits_for_a_member_whose_host_has_not_reported_and_remembers_since_when():
    observed = three({"g-001": held(), "g-002": reloaded()})
    action, since = decide_restart(observed, None, NOW, WALL)
    assert action == Wait("g-003 has not said what data it starts with")
    assert since == NOW
    action, since = decide_restart(observed, NOW - RESTART_WAIT_SECONDS + 1, NOW, WALL)
    assert isinstance(action, Wait) and since == NOW - RESTART_WAIT_SECONDS + 1


def test_a_member_still_loading_has_said_what_it_loads():
    observed = restarted(**{"g-002": started(replica(0, status="starting"), "aof", SAVED + 5000)})
    action, _ = decide_restart(observed, None, NOW, WALL)
    assert isinstance(action, RestartGroup) and action.member == "g-002"


def test_after_the_wait_comes_back_from_the_members_heard_and_names_the_others():
    observed = three({"g-001": held(), "g-002": reloaded()})
    action, since = decide_restart(observed, NOW - RESTART_WAIT_SECONDS, NOW, WALL)
    assert isinstance(action, RestartGroup) and action.member == "g-001" and since is None
    assert action.events[0].endswith("; g-003-0001 did not say what data it holds within 30 s")
