"""A failed node's repair: its status from its host's report, the events, and when the host
is asked again to run it (decide_clusters)."""
from __future__ import annotations

from cachefleet.v1 import node_agent_pb2 as agent_pb
from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
from coordinator.domain.roles import PRIMARY, Role
from coordinator.reconcile.decide_clusters import (
    FAILED_RETRY_SECONDS, engine_restarted, node_events, node_status, redis_restarted, retry_due)
from tests.helpers.decisions import report, started

NOW = 50.0
PLAIN = Role()


def cluster_with(status=NodeStatus.AVAILABLE, engine="memcached", message=""):
    node = Node("0001", status=status, host_id="h1", zone="a", message=message)
    return Cluster("c", engine, "7.0.15", "cache.t1.micro", 6379, status=ClusterStatus.AVAILABLE, nodes={"0001": node})


def status_of(cluster, reported, role=PLAIN, spec_current=True):
    return node_status(cluster, cluster.nodes["0001"], role, reported, True, spec_current)


def test_a_node_whose_engine_failed_is_marked_failed_with_the_reason():
    assert status_of(cluster_with(), report(status="failed", message="port in use")) == (NodeStatus.FAILED, "port in use")


def test_a_failed_engine_without_a_reason_gets_a_plain_one():
    assert status_of(cluster_with(), report(status="failed")) == (NodeStatus.FAILED, "the engine process failed")


def test_a_failed_node_serving_again_is_available():
    assert status_of(cluster_with(NodeStatus.FAILED, message="x"), report()) == (NodeStatus.AVAILABLE, "")


def test_a_node_starting_keeps_its_status():
    assert status_of(cluster_with(NodeStatus.CREATING), report(status="starting")) == (None, "")


def test_a_node_whose_host_runs_an_older_spec_keeps_its_status():
    assert status_of(cluster_with(NodeStatus.REBOOTING), report(), spec_current=False) == (None, "")


def test_a_replica_is_not_available_until_its_link_is_up():
    cluster = cluster_with(NodeStatus.CREATING, engine="redis")
    assert status_of(cluster, report(role="replica", link="down"), Role("replica", "10.0.0.1", 6379)) == (None, "")
    assert status_of(cluster, report(role="replica", link="up"), Role("replica", "10.0.0.1", 6379)) \
        == (NodeStatus.AVAILABLE, "")


def test_a_primary_still_refusing_writes_is_not_yet_available():
    cluster = cluster_with(NodeStatus.RECOVERING, engine="redis")
    assert status_of(cluster, report(role="primary", fenced=True), PRIMARY) == (None, "")


def test_a_write_fenced_primary_is_available_while_fenced():
    cluster = cluster_with(NodeStatus.RECOVERING, engine="redis")
    assert status_of(cluster, report(fenced=True), Role("primary", write_fenced=True)) == (NodeStatus.AVAILABLE, "")


def test_a_redis_node_of_a_new_type_is_modified_only_once_its_memory_limit_is_applied():
    cluster = cluster_with(NodeStatus.MODIFYING, engine="redis")
    assert status_of(cluster, report(max_memory_mb=512, applied_max_memory_mb=256)) == (None, "")
    assert status_of(cluster, report(max_memory_mb=512, applied_max_memory_mb=512)) == (NodeStatus.AVAILABLE, "")


def test_events_name_what_happened_to_the_node():
    node = Node("0001", zone="b")
    cases = {NodeStatus.CREATING: "Added cache node 0001 in availability zone b",
             NodeStatus.RECOVERING: "Finished recovery for cache nodes 0001",
             NodeStatus.REBOOTING: "Cache node 0001 restarted",
             NodeStatus.FAILED: "Cache node 0001 is available again",
             NodeStatus.MODIFYING: "Cache node 0001 modified and serving"}
    for before, event in cases.items():
        node.status = before
        assert node_events(node, NodeStatus.AVAILABLE, "") == [event]


def test_a_failure_event_carries_the_reason():
    assert node_events(Node("0001"), NodeStatus.FAILED, "port in use") == ["Cache node 0001 failed: port in use"]


def test_a_stopped_node_is_started_again_at_once():
    assert retry_due(agent_pb.NODE_STATUS_STOPPED, None, NOW) == (True, None)


def test_a_failed_node_is_not_retried_at_once_but_after_the_retry_delay():
    assert retry_due(agent_pb.NODE_STATUS_FAILED, None, NOW) == (False, NOW + FAILED_RETRY_SECONDS)
    assert retry_due(agent_pb.NODE_STATUS_FAILED, NOW + FAILED_RETRY_SECONDS, NOW + 1) == (False, NOW + FAILED_RETRY_SECONDS)


def test_a_failed_node_is_retried_once_the_delay_is_over_and_then_waits_again():
    later = NOW + FAILED_RETRY_SECONDS
    assert retry_due(agent_pb.NODE_STATUS_FAILED, later, later) == (True, later + FAILED_RETRY_SECONDS)


def test_a_serving_node_is_left_alone_and_its_retry_forgotten():
    assert retry_due(agent_pb.NODE_STATUS_AVAILABLE, NOW, NOW + 10) == (False, None)


def test_an_engine_its_host_restarted_makes_an_event():
    node = Node("0001", host_id="h2")
    assert engine_restarted(node, 1, 2) == ("Cache node 0001 restarted: its engine process exited and was "
                                            "started again on host h2")


def test_the_first_report_of_restarts_makes_no_event():
    assert engine_restarted(Node("0001", host_id="h2"), None, 5) == ""
    assert engine_restarted(Node("0001", host_id="h2"), 5, 5) == ""


def test_a_replica_its_host_restarted_copies_its_data_again():
    assert engine_restarted(Node("0001", host_id="h2"), 1, 2, replica=True) == (
        "Cache node 0001 restarted: its engine process exited and was started again on host h2; "
        "it copies its data from its primary again")


def loaded(run_id: str, aof: bool = False, keys: int = 0) -> agent_pb.NodeState:
    return agent_pb.NodeState(node_key="r1-0001", status=agent_pb.NODE_STATUS_AVAILABLE,
                              loaded=agent_pb.LoadedData(run_id=run_id, aof=aof, keys=keys))


def test_a_redis_node_restarted_without_persistence_says_it_came_back_empty():
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", loaded("run-2"), NodeStatus.AVAILABLE) == (
        "Cache node 0001 restarted empty on host h1: its data was not persisted (appendonly is no)")


def test_a_redis_node_restarted_with_its_aof_says_it_reloaded_it_and_how_many_keys():
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", loaded("run-2", aof=True, keys=500),
                           NodeStatus.AVAILABLE) == (
        "Cache node 0001 restarted on host h1 and reloaded its data from its append-only file (500 keys)")
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", loaded("run-2", aof=True, keys=1),
                           NodeStatus.FAILED).endswith("(1 key)")


def test_a_redis_node_restarted_without_aof_but_with_an_old_rdb_says_what_it_loaded_and_what_is_lost():
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", loaded("run-2", keys=40), NodeStatus.AVAILABLE) == (
        "Cache node 0001 restarted on host h1 with 40 keys from its last RDB file "
        "(appendonly is no: writes since that file was saved are lost)")


SAVED = 1_767_323_045_000      # 2026-01-02 03:04:05 UTC


def test_a_redis_node_restarted_empty_after_taking_writes_says_every_acknowledged_write_is_lost():
    restarted = started(loaded("run-2"), "empty", 0, last_write_ms=SAVED, keys=500)
    expected = ("Cache node 0001 restarted empty on host h1: its data was not persisted (appendonly is no); "
                "every write it had acknowledged is lost (its last write was at 2026-01-02 03:04:05 UTC, "
                "when it held 500 keys)")
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", restarted, NodeStatus.AVAILABLE) == expected
    # and so does a restart this coordinator did not see (it restarted with the whole fleet)
    assert redis_restarted(Node("0001", host_id="h1"), None, restarted, NodeStatus.AVAILABLE) == expected


def test_a_redis_node_whose_saved_data_is_older_than_its_last_write_says_how_many_seconds_are_lost():
    restarted = started(loaded("run-2", keys=40), "rdb", SAVED, last_write_ms=SAVED + 12_000, keys=90)
    assert redis_restarted(Node("0001", host_id="h1"), None, restarted, NodeStatus.AVAILABLE) == (
        "Cache node 0001 restarted on host h1 with 40 keys from its last RDB file (appendonly is no: writes "
        "since that file was saved are lost); what it loaded was saved at 2026-01-02 03:04:05 UTC, 12 s before "
        "its last write: the writes of those seconds are lost (its last write was at 2026-01-02 03:04:17 UTC, "
        "when it held 90 keys)")


def test_a_restart_this_coordinator_did_not_see_that_lost_nothing_is_not_said():
    kept = started(loaded("run-2", aof=True, keys=90), "aof", SAVED, last_write_ms=SAVED + 300, keys=90)
    assert redis_restarted(Node("0001", host_id="h1"), None, kept, NodeStatus.AVAILABLE) == ""
    assert redis_restarted(Node("0001", host_id="h1"), "run-1", kept, NodeStatus.AVAILABLE) == (
        "Cache node 0001 restarted on host h1 and reloaded its data from its append-only file (90 keys)")


def test_no_restart_event_for_the_same_process_a_first_sighting_or_a_planned_start():
    node = Node("0001", host_id="h1")
    assert redis_restarted(node, "run-1", loaded("run-1"), NodeStatus.AVAILABLE) == ""
    assert redis_restarted(node, None, loaded("run-2"), NodeStatus.AVAILABLE) == ""
    assert redis_restarted(node, "run-1", agent_pb.NodeState(node_key="r1-0001"), NodeStatus.AVAILABLE) == ""
    for planned in (NodeStatus.REBOOTING, NodeStatus.CREATING, NodeStatus.MODIFYING, NodeStatus.RECOVERING):
        assert redis_restarted(node, "run-1", loaded("run-2"), planned) == ""
