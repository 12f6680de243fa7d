"""The maintenance window: whether now is inside it and what it applies, for a standalone
cluster (decide_window) and a replication group (decide_group_maintenance, decide_settle)."""
from __future__ import annotations

import datetime

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.model import ClusterStatus, GroupStatus, PendingChanges
from coordinator.reconcile.actions import NoAction
from coordinator.reconcile.decide_clusters import ApplyPending, RebootForParameters, decide_window
from coordinator.reconcile.decide_groups import Settle, StartMaintenance, decide_group_maintenance, decide_settle
from tests.helpers.decisions import group, member

WINDOW = "mon:00:00-mon:01:00"
INSIDE = datetime.datetime(2026, 11, 30, 0, 30, tzinfo=datetime.UTC).timestamp()     # a Monday
OUTSIDE = datetime.datetime(2026, 11, 30, 1, 30, tzinfo=datetime.UTC).timestamp()
FLEET = {"7.0.15", "7.0.16", "7.2.4"}


def in_sync():
    return "in-sync", []


def standalone(**fields):
    cluster = member("c", "h1", group_id="")
    cluster.maintenance_window = WINDOW
    for name, value in fields.items():
        setattr(cluster, name, value)
    return cluster


def test_nothing_is_applied_outside_the_window():
    assert decide_window(standalone(pending=PendingChanges(engine_version="7.0.16")), OUTSIDE, False, in_sync, FLEET) \
        == NoAction("outside the maintenance window")


def test_parameters_are_not_even_looked_at_outside_the_window():
    def never():
        raise AssertionError("looked at parameters outside the window")
    assert decide_window(standalone(), OUTSIDE, False, never, FLEET) == NoAction("outside the maintenance window")


def test_a_cluster_being_modified_waits_for_its_next_window():
    cluster = standalone(status=ClusterStatus.MODIFYING, pending=PendingChanges(engine_version="7.0.16"))
    assert isinstance(decide_window(cluster, INSIDE, False, in_sync, FLEET), NoAction)


def test_nodes_waiting_for_requires_reboot_parameters_are_rebooted_first():
    action = decide_window(standalone(pending=PendingChanges(engine_version="7.0.16")), INSIDE, False,
                           lambda: ("pending-reboot", ["0001", "0002"]), FLEET)
    assert action == RebootForParameters("c", ("0001", "0002"))
    assert action.sentence == "c: maintenance reboot of 0001, 0002"
    assert action.events == ("Maintenance started: rebooting cache nodes 0001, 0002 to apply requires-reboot "
                             "parameters",)


def test_a_primary_with_replicas_is_never_rebooted_for_parameters():
    cluster = standalone(replication_group_id="g")
    action = decide_window(cluster, INSIDE, True, lambda: ("pending-reboot", ["0001"]), FLEET)
    assert action == NoAction("a replication group member: the group's window applies its changes")


def test_pending_changes_are_applied_inside_the_window():
    action = decide_window(standalone(pending=PendingChanges(cache_node_type="cache.m1.small")), INSIDE, False, in_sync, FLEET)
    assert action == ApplyPending("c")
    assert action.sentence == "c: maintenance started"


def test_auto_minor_version_upgrade_applies_the_newest_minor_version_installed_everywhere():
    action = decide_window(standalone(), INSIDE, False, in_sync, FLEET)
    assert action == ApplyPending("c", "7.0.16")
    assert action.reason == "minor version 7.0.16 is installed on every host of the cluster"


def test_auto_minor_version_upgrade_never_makes_a_major_change():
    assert decide_window(standalone(), INSIDE, False, in_sync, {"7.0.15", "8.0.1"}) \
        == NoAction("nothing is pending")


def test_without_auto_minor_version_upgrade_and_nothing_pending_the_window_does_nothing():
    assert decide_window(standalone(auto_minor_version_upgrade=False), INSIDE, False, in_sync, FLEET) \
        == NoAction("nothing is pending")


def windowed_group(**fields):
    return group(["g-001", "g-002"], maintenance_window=WINDOW, **fields)


def test_a_group_applies_its_pending_changes_inside_its_window():
    action = decide_group_maintenance(windowed_group(pending=PendingChanges(cache_node_type="cache.m1.small")), INSIDE, FLEET)
    assert action == StartMaintenance("g", PendingChanges(cache_node_type="cache.m1.small"), "pending changes wait for the window")
    assert action.sentence == "g: maintenance started"


def test_a_group_outside_its_window_keeps_its_pending_changes():
    assert decide_group_maintenance(windowed_group(pending=PendingChanges(engine_version="7.0.16")), OUTSIDE, FLEET) \
        == NoAction("outside the maintenance window")


def test_a_group_picks_up_a_minor_version_installed_on_every_member_host():
    action = decide_group_maintenance(windowed_group(), INSIDE, {"7.0.15", "7.0.16"})
    assert isinstance(action, StartMaintenance) and action.pending == PendingChanges(engine_version="7.0.16")


def test_a_group_being_modified_starts_no_maintenance():
    assert decide_group_maintenance(windowed_group(status=GroupStatus.MODIFYING, pending=PendingChanges(engine_version="7.0.16")),
                                    INSIDE, FLEET) == NoAction("no maintenance window applies")


def test_a_group_whose_members_all_serve_is_modified_and_its_maintenance_finished():
    grp = group(["g-001", "g-002"], status=GroupStatus.MODIFYING, maintenance_running=True)
    action = decide_settle(grp, {m: member(m, "h1") for m in grp.members})
    assert action == Settle("g", "Replication group modified; maintenance finished")
    assert action.sentence == "g: Replication group modified; maintenance finished"
    assert action.events == ("Replication group modified; maintenance finished",)


def test_a_new_group_is_created_once_every_member_serves():
    grp = group(["g-001", "g-002"], status=GroupStatus.CREATING)
    members = {"g-001": member("g-001", "h1"), "g-002": member("g-002", "h2", status=ClusterStatus.CREATING)}
    assert decide_settle(grp, members) == NoAction("a member is not yet available")
    members["g-002"] = member("g-002", "h2")
    assert decide_settle(grp, members).sentence == "g: Replication group created"


def test_a_new_group_waits_until_its_primary_counts_every_linked_replica_online():
    """A replica shows its link up a moment before its primary counts it (the primary first
    reaps the child that streamed its copy); a guarded primary refuses writes until then."""
    grp = group(["g-001", "g-002", "g-003"], status=GroupStatus.CREATING)
    members = {m: member(m, f"h{i}") for i, m in enumerate(grp.members, 1)}

    def reports(online: int | None) -> dict[str, agent_pb.NodeState]:
        replica = agent_pb.NodeState(replication=agent_pb.ReplicationInfo(link_status=agent_pb.LINK_STATE_UP))
        primary = agent_pb.NodeState(replication=agent_pb.ReplicationInfo(online_replicas=online))
        return {"g-001": primary, "g-002": replica, "g-003": replica}
    assert decide_settle(grp, members, reports(1)) == NoAction("the primary does not yet count every linked replica")
    assert decide_settle(grp, members, reports(2)).sentence == "g: Replication group created"
    assert decide_settle(grp, members, reports(None)).sentence == "g: Replication group created"   # an older agent
