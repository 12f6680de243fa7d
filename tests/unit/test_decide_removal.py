"""Whether an engine a host runs but no record places there goes with its data or keeps it
set aside (decide_orphan): only a move the user asked for, once done, discards it."""
from __future__ import annotations

from coordinator.domain.model import Cluster, Node, NodeStatus
from coordinator.reconcile.actions import NoAction, Wait
from coordinator.reconcile.decide_removal import RemoveEngine, decide_orphan


def cluster(host_id: str, status: NodeStatus = NodeStatus.AVAILABLE, moved_from: str = "") -> dict[str, Cluster]:
    node = Node("0001", status, host_id, "a", "10.0.0.9", moved_from=moved_from)
    return {"r1": Cluster("r1", "redis", "7.0.15", "cache.t1.micro", 6379, nodes={"0001": node})}


def test_a_node_recreated_elsewhere_while_its_host_was_away_keeps_its_old_data():
    action = decide_orphan("h1", "r1-0001", cluster("h2"))
    assert action == RemoveEngine("h1", "r1-0001", False, "the node was re-created on host h2 while its host was away")
    assert action.set_aside_event("/s/r1-0001-20261204T190000Z") == (
        "Data of cache node 0001 on host h1 set aside at /s/r1-0001-20261204T190000Z (not deleted): "
        "the node was re-created on host h2 while its host was away")


def test_an_engine_whose_cluster_is_gone_keeps_its_data():
    assert decide_orphan("h1", "gone-0001", cluster("h2")) == \
        RemoveEngine("h1", "gone-0001", False, "its cache cluster no longer exists")


def test_an_engine_whose_node_is_gone_from_its_cluster_keeps_its_data():
    assert decide_orphan("h1", "r1-0002", cluster("h1")) == \
        RemoveEngine("h1", "r1-0002", False, "the cache node no longer exists in its cluster")


def test_a_node_the_user_moved_has_its_old_engine_and_data_removed_once_its_new_copy_serves():
    assert decide_orphan("h1", "r1-0001", cluster("h2", moved_from="h1")) == \
        RemoveEngine("h1", "r1-0001", True, "moved to host h2 by a change the user asked for")


def test_a_node_the_user_moved_keeps_its_old_engine_until_its_new_copy_is_in_sync():
    assert decide_orphan("h1", "r1-0001", cluster("h2", NodeStatus.MODIFYING, moved_from="h1")) == \
        Wait("its copy on host h2 is not in sync yet")


def test_a_moved_node_seen_on_another_host_than_the_one_it_left_keeps_that_data():
    action = decide_orphan("h3", "r1-0001", cluster("h2", moved_from="h1"))
    assert isinstance(action, RemoveEngine) and not action.discard


def test_an_engine_on_its_own_host_is_not_an_orphan():
    assert isinstance(decide_orphan("h2", "r1-0001", cluster("h2")), NoAction)
