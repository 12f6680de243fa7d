"""Notifications end to end: a real fleet (coordinator, agents, engines) and a real HTTP
webhook on 127.0.0.1; WatchEvents and `describe-events --follow` against the same fleet."""
from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
import sqlite3
import threading
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import endpoint_of, listens_on
from tests.helpers.fleet import Fleet, free_port, kill_pid, wait_for
from tests.helpers.groups import create_group, engine_pid, primary_of, wait_group
from tests.helpers.webhook import Webhook

ATTEMPTS = 4
BACKOFF = 0.1


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"), hosts=2, coordinator_env={
        "CACHEFLEET_NOTIFICATION_ATTEMPTS": str(ATTEMPTS), "CACHEFLEET_NOTIFICATION_BACKOFF": str(BACKOFF)}).start()
    yield f
    f.discard()


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def create(fleet, cluster_id, url="", engine="memcached", **kw):
    return fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id=cluster_id, engine=engine, cache_node_type="cache.t1.micro", num_cache_nodes=1,
        notification_topic_arn=url, **kw), timeout=5).cache_cluster


def reboot(fleet, cluster_id):
    fleet.stub.RebootCacheCluster(pb.RebootCacheClusterRequest(
        cache_cluster_id=cluster_id, cache_node_ids_to_reboot=["0001"]), timeout=5)


def test_a_node_recovery_event_reaches_the_clusters_webhook(fleet, hook):
    created = create(fleet, "hooked", hook.url)
    assert created.notification_configuration.topic_arn == hook.url
    assert created.notification_configuration.topic_status == "active"
    cluster = fleet.wait_status("hooked", "available")
    wait_for(lambda: "Cache cluster created" in hook.messages("hooked"), 5, what="the created event")
    ep = endpoint_of(fleet, cluster, "0001")
    host = fleet.host_by_address(ep[0])
    kill_pid(next(p for p in host.engine_pids() if listens_on(p, *ep)))
    body = wait_for(lambda: next((b for b in hook.delivered() if "restarted" in b["Message"]), None), 10,
                    what="the node recovery event at the webhook")
    assert body["SourceIdentifier"] == "hooked" and body["SourceType"] == "cache-cluster"
    assert body["Message"].startswith("Cache node 0001 restarted")
    assert body["NotificationTopicArn"] == hook.url
    # the same event, as DescribeEvents shows it, carries the same id
    events = fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier="hooked"), timeout=5).events
    assert body["EventId"] in {e.event_id for e in events if e.message == body["Message"]}
    assert datetime.datetime.fromisoformat(body["Date"].replace("Z", "+00:00"))


def test_a_failing_webhook_is_retried_with_backoff_and_delivered(fleet, hook):
    create(fleet, "flaky")
    fleet.wait_status("flaky", "available")
    hook.fail_each = 2                    # every event: 500, 500, then 200
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="flaky", notification_topic_arn=hook.url), timeout=5)
    reboot(fleet, "flaky")
    wait_for(lambda: "Cache cluster nodes rebooted" in hook.messages("flaky"), 10,
             what="the reboot events delivered after two failures each")
    for body in hook.delivered():
        posts = hook.posts(body["EventId"])
        assert [status for _, status in posts] == [500, 500, 200]
        gaps = [b[0] - a[0] for a, b in zip(posts, posts[1:])]
        assert gaps[0] >= BACKOFF * 0.9 and gaps[1] >= 2 * BACKOFF * 0.9, gaps   # backoff doubles
    fleet.wait_status("flaky", "available")
    assert not [m for m in fleet.events("flaky") if m.startswith("Notification to")]


def test_a_dead_webhook_records_the_failure_and_the_coordinator_keeps_working(fleet):
    dead = f"http://127.0.0.1:{free_port()}/hook"     # nothing listens there
    create(fleet, "deaf", dead)
    fleet.wait_status("deaf", "available")
    failures = wait_for(lambda: [m for m in fleet.events("deaf") if m.startswith(f"Notification to {dead}")], 10,
                        what="the failure event")
    assert failures[0].startswith(f"Notification to {dead} failed after {ATTEMPTS} attempts: ")
    assert "refused" in failures[0].lower()
    # the coordinator goes on: another cluster is created and served, and the failures never recurse
    create(fleet, "after-deaf")
    fleet.wait_status("after-deaf", "available")
    others = [m for m in fleet.events("deaf") if not m.startswith("Notification to")]
    wait_for(lambda: len([m for m in fleet.events("deaf") if m.startswith("Notification to")]) == len(others), 10,
             what="one failure per event")
    # an event's delivery is stored with the event: with every failure recorded and the outbox
    # empty, no delivery is left that could record a failure of a failure
    wait_for(lambda: not outbox_pending(fleet), 10, what="every delivery done")
    assert len([m for m in fleet.events("deaf") if m.startswith("Notification to")]) == len(others)


def test_a_bad_target_is_refused_and_changes_nothing(fleet):
    for url in ("ftp://127.0.0.1/x", "not a url", "arn:aws:sns:us-east-1:123456789012:t"):
        with pytest.raises(grpc.RpcError) as exc:
            create(fleet, "refused", url)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert exc.value.details().startswith("InvalidParameterValue: ")
    assert fleet.cluster("refused") is None
    create(fleet, "kept", "http://127.0.0.1:9/keep")
    for request in (pb.ModifyCacheClusterRequest(cache_cluster_id="kept", notification_topic_arn="gopher://x"),
                    pb.ModifyCacheClusterRequest(cache_cluster_id="kept", notification_topic_status="paused")):
        with pytest.raises(grpc.RpcError) as exc:
            fleet.stub.ModifyCacheCluster(request, timeout=5)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    kept = fleet.cluster("kept")
    assert (kept.notification_configuration.topic_arn, kept.notification_configuration.topic_status) == \
        ("http://127.0.0.1:9/keep", "active")
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="kept", notification_topic_status="inactive"), timeout=5)
    assert fleet.cluster("kept").notification_configuration.topic_status == "inactive"
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(cache_cluster_id="kept", notification_topic_arn=""),
                                  timeout=5)
    assert not fleet.cluster("kept").HasField("notification_configuration")


def test_a_group_members_events_go_to_the_groups_webhook(fleet, hook):
    reply = fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="notified", replication_group_description="d", num_cache_clusters=1,
        cache_node_type="cache.t1.micro", notification_topic_arn=hook.url), timeout=5).replication_group
    assert reply.notification_configuration.topic_arn == hook.url
    wait_for(lambda: "Cache cluster created" in hook.messages("notified-001"), 15, what="the member's event")
    assert {b["SourceType"] for b in hook.delivered()} >= {"cache-cluster", "replication-group"}
    fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
        replication_group_id="notified", notification_topic_status="inactive"), timeout=5)
    (group,) = fleet.stub.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest(
        replication_group_id="notified"), timeout=5).replication_groups
    assert (group.notification_configuration.topic_arn, group.notification_configuration.topic_status) == \
        (hook.url, "inactive")
    with pytest.raises(grpc.RpcError) as exc:
        fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id="notified", notification_topic_arn="file:///etc/passwd"), timeout=5)
    assert exc.value.details().startswith("InvalidParameterValue: ")


def test_watch_events_streams_a_live_event(fleet):
    create(fleet, "watched")
    fleet.wait_status("watched", "available")
    stored = {e.event_id for e in fleet.stub.DescribeEvents(pb.DescribeEventsRequest(
        source_identifier="watched", duration=60), timeout=5).events}
    # the watch replays the stored events first, and it subscribes before it replays them: once
    # they have arrived, whatever happens next can only reach it live
    call = fleet.stub.WatchEvents(pb.WatchEventsRequest(source_identifier="watched", duration=60))
    got: list = []

    def read():
        try:
            for event in call:
                got.append(event)
        except grpc.RpcError as exc:        # our cancel() below ends it
            assert exc.code() == grpc.StatusCode.CANCELLED
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: {e.event_id for e in got} >= stored, 10, what="the replay of the stored events")
    replayed = len(got)
    reboot(fleet, "watched")
    wait_for(lambda: any(e.message == "Cache cluster nodes rebooted" for e in got), 10, what="the live events")
    live = got[replayed:]
    assert all(e.source_identifier == "watched" for e in got)
    assert live[0].message.startswith("Cache cluster rebooting cache nodes")
    assert len({e.event_id for e in got}) == len(got)
    call.cancel()
    reader.join(5)
    # a replay from a start time gives the stored events first, creation included
    replay = fleet.stub.WatchEvents(pb.WatchEventsRequest(source_identifier="watched", duration=60))
    first = next(iter(replay))
    replay.cancel()
    assert first.message.startswith("Cache cluster creating")
    with pytest.raises(grpc.RpcError) as exc:
        next(iter(fleet.stub.WatchEvents(pb.WatchEventsRequest(source_type="nonsense"))))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_describe_events_follow_prints_events_as_they_happen_until_ctrl_c(fleet):
    create(fleet, "followed")
    fleet.wait_status("followed", "available")
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "describe-events", "--follow", "--source-identifier", "followed",
         "--duration", "60", "--endpoint", fleet.endpoint], env=fleet.cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    lines: list[dict] = []
    threading.Thread(target=lambda: [lines.append(json.loads(line)) for line in proc.stdout], daemon=True).start()
    try:
        wait_for(lambda: any(e["Message"] == "Cache cluster created" for e in lines), 10, what="the replay")
        reboot(fleet, "followed")
        wait_for(lambda: any(e["Message"] == "Cache cluster nodes rebooted" for e in lines), 10, what="a live event")
        # the first, "creating", was caused by the admin's call: it names it (the audit trail)
        assert set(lines[0]) == {"SourceIdentifier", "SourceType", "Message", "Date", "EventId", "Caller"}
        assert lines[0]["Caller"].endswith("/admin")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
    assert code == 130, proc.stderr.read()


def test_describe_events_filters_by_source_type_identifier_and_time(fleet):
    now = time.time() + fleet.clock_offset()
    create(fleet, "timed")
    fleet.wait_status("timed", "available")
    later = now + 2 * 3600
    fleet.set_clock(later)                     # two hours on: a reboot
    reboot(fleet, "timed")
    fleet.wait_status("timed", "available")

    def messages(**kw):
        for name in ("start_time", "end_time"):
            if name in kw:
                t = Timestamp()
                t.FromSeconds(int(kw[name]))
                kw[name] = t
        return [e.message for e in fleet.stub.DescribeEvents(pb.DescribeEventsRequest(**kw), timeout=5).events]

    early = messages(source_identifier="timed", start_time=now - 60, end_time=now + 600)
    assert "Cache cluster created" in early and not any("reboot" in m for m in early)
    recent = messages(source_identifier="timed", duration=30)           # the last 30 minutes
    assert recent[0].startswith("Cache cluster rebooting") and "Cache cluster created" not in recent
    assert messages(source_identifier="timed", source_type="replication-group", start_time=now - 60) == []
    everything = messages(source_type="cache-cluster", start_time=now - 60)
    assert "Cache cluster created" in everything and len(everything) >= len(early) + len(recent)
    with pytest.raises(grpc.RpcError) as exc:
        messages(source_type="nonsense")
    assert exc.value.details().startswith("InvalidParameterValue: ")


def test_events_older_than_14_days_are_pruned_by_a_running_coordinator(fleet):
    create(fleet, "aged")
    fleet.wait_status("aged", "available")
    assert fleet.events("aged")
    fleet.kill_coordinator()
    fleet.set_clock(time.time() + fleet.clock_offset() + 15 * 86400)   # 15 days on
    fleet.start_coordinator()

    def remaining():
        t = Timestamp()
        t.FromSeconds(0)
        return fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier="aged", start_time=t),
                                         timeout=5).events
    wait_for(lambda: not remaining(), 10, what="the old events to be pruned")


def test_a_groups_webhook_and_watch_events_get_the_failover_after_its_primary_engine_is_killed(fleet, hook):
    create_group(fleet, "failing", clusters=2, notification_topic_arn=hook.url)
    g = wait_group(fleet, "failing")
    old = primary_of(g).cache_cluster_id
    # a replay from a start time subscribes first: nothing recorded after the call is missed
    call = fleet.stub.WatchEvents(pb.WatchEventsRequest(source_type="replication-group",
                                                        source_identifier="failing", duration=60))
    watched: list = []

    def read():
        try:
            for event in call:
                watched.append(event.message)
        except grpc.RpcError as exc:        # our cancel() below ends it
            assert exc.code() == grpc.StatusCode.CANCELLED
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    (address,) = fleet.resolve("failing.primary.cachefleet.test")
    kill_pid(engine_pid(fleet, address, g.node_groups[0].primary_endpoint.port))
    failover = f"Failover from primary node {old}-0001 to replica node "

    def posted() -> list[str]:
        return [m for m in hook.messages("failing") if m.startswith(failover)]
    (message,) = wait_for(posted, 20, what="the failover event at the group's webhook")
    wait_for(lambda: message in watched, 5, what="the same failover event in WatchEvents")
    assert message.endswith("completed")
    call.cancel()
    reader.join(5)


def test_a_group_snapshot_reaches_the_groups_webhook_once(fleet, hook):
    create_group(fleet, "snapped", clusters=2, notification_topic_arn=hook.url)
    wait_group(fleet, "snapped")
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(replication_group_id="snapped", snapshot_name="snap-1"),
                              timeout=5)

    def succeeded() -> list[dict]:
        return [b for b in hook.delivered() if "Snapshot succeeded for snapshot with ID 'snap-1'" in b["Message"]]
    (body,) = wait_for(succeeded, 20, what="the snapshot event at the group's webhook")
    assert body["SourceType"] == "replication-group" and body["SourceIdentifier"] == "snapped"
    # the member cluster's own event is recorded (DescribeEvents) but not posted again to the group's hook
    events = fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_type="cache-cluster"), timeout=5)
    assert any("snap-1" in e.message and e.source_identifier.startswith("snapped-") for e in events.events)
    wait_for(lambda: not outbox_pending(fleet), 10, what="every delivery done")
    assert len(succeeded()) == 1


def outbox_pending(fleet) -> int:
    """Deliveries not yet done: the coordinator's `notifications/` records (read-only, WAL allows it)."""
    db = sqlite3.connect(f"file:{fleet.state_dir / 'coordinator.db'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM kv WHERE key LIKE 'notifications/%'").fetchone()[0]
    finally:
        db.close()
