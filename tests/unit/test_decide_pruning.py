"""Snapshot retention: which automatic snapshots are past their limit; manual, final and
copied ones never (snapshots.retention)."""
from __future__ import annotations

from coordinator.snapshots.model import Snapshot, SnapshotStatus
from coordinator.snapshots.retention import Prune, decide_pruning

DAY = 86400.0
NOW = 100 * DAY


def snap(name, age_days, source="automated", status=SnapshotStatus.AVAILABLE, cluster="c1", group="", **more):
    return Snapshot(name, source, status=status, cluster_id=cluster, group_id=group, created=NOW - age_days * DAY,
                    **more)


def names(pruned):
    return [p.name for p in pruned]


def test_prunes_automatic_snapshots_older_than_the_retention_limit():
    pruned = decide_pruning([snap("old", 3.5), snap("new", 1)], {"c1": 3}, NOW)
    assert pruned == [Prune("old", "older than c1's limit of 3 days")]
    assert pruned[0].sentence == "pruning old"


def test_keeps_automatic_snapshots_within_the_limit():
    assert decide_pruning([snap("a", 2.9)], {"c1": 3}, NOW) == []


def test_never_prunes_manual_snapshots():
    assert decide_pruning([snap("mine", 400, source="manual")], {"c1": 1}, NOW) == []


def test_never_prunes_final_snapshots():
    assert decide_pruning([snap("last", 400, source="manual", final=True)], {}, NOW) == []


def test_never_prunes_copies():
    assert decide_pruning([snap("copy", 400, source="manual", copy_of="old")], {}, NOW) == []


def test_prunes_every_automatic_snapshot_of_a_deleted_source():
    assert decide_pruning([snap("a", 0.1), snap("b", 0.2)], {}, NOW) == [
        Prune("a", "c1 keeps no automatic snapshots"), Prune("b", "c1 keeps no automatic snapshots")]


def test_a_group_snapshot_follows_its_group_limit_not_its_member():
    pruned = decide_pruning([snap("g-snap", 2, cluster="g-002", group="g")], {"g": 1, "g-002": 30}, NOW)
    assert names(pruned) == ["g-snap"]


def test_failed_automatic_snapshots_past_the_limit_are_pruned():
    assert names(decide_pruning([snap("f", 5, status=SnapshotStatus.FAILED)], {"c1": 1}, NOW)) == ["f"]


def test_snapshots_being_taken_or_deleted_are_left_to_finish():
    snapshots = [snap("c", 5, status=SnapshotStatus.CREATING), snap("d", 5, status=SnapshotStatus.DELETING)]
    assert decide_pruning(snapshots, {"c1": 1}, NOW) == []
