"""A replication group whose every member stops, the whole fleet stopped and started again on
the same state: it comes back from its freshest copy and its events say how old that is and
what was lost. With appendonly yes every acknowledged write survives (past appendfsync's
window), even when a replica had stopped early and holds less; without it, the group comes back
from the RDB file saved last and says how many seconds of writes that lacks."""
from __future__ import annotations

import re
import time

import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import appendonly_group
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.groups import client_for, create_group, group, members, primary_of, wait_group

PRIMARY = "rg.primary.cachefleet.test"
KEYS = 200
FSYNC_WINDOW_S = 1.0         # appendfsync everysec: at most the last second may be unsynced


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=3).start()
    yield f
    f.discard()


def start_group(fleet: Fleet, **kw) -> int:
    create_group(fleet, "rg", clusters=3, **kw)
    return wait_group(fleet, "rg", timeout=30).node_groups[0].primary_endpoint.port


def write(fleet: Fleet, port: int, prefix: str, replicas: int = 2) -> float:
    """KEYS keys through the primary endpoint, each acknowledged; returns when the last was."""
    client = client_for(fleet, PRIMARY, port)
    for i in range(KEYS):
        assert client.set(f"{prefix}{i}", i)
    assert client.wait(replicas, 5000) >= replicas
    return time.time()


def read_back(fleet: Fleet, port: int, prefix: str) -> list[bytes | None]:
    """Every key, through the primary endpoint as it resolves once the group serves again."""
    def primary_serves() -> redis.Redis | None:
        client = client_for(fleet, PRIMARY, port)
        return client if client.set("probe", 1) else None
    client = wait_for(primary_serves, 30, interval=0.1, what="the primary endpoint to take writes")
    return client.mget([f"{prefix}{i}" for i in range(KEYS)])


def values() -> list[bytes]:
    return [str(i).encode() for i in range(KEYS)]


def synced_past_the_window(fleet: Fleet, port: int, since: float) -> bool:
    """appendfsync's window has passed since `since`, and no member has an AOF write or fsync
    waiting: what was acknowledged is on disk everywhere."""
    if time.time() < since + FSYNC_WINDOW_S + 0.1:
        return False
    for member in members(group(fleet, "rg")).values():
        (address,) = fleet.resolve(member.read_endpoint.address)
        info = redis.Redis(host=address, port=port, socket_timeout=1).info("persistence")
        if info["aof_buffer_length"] or info["aof_pending_bio_fsync"]:
            return False
    return True


def restart_events(fleet: Fleet, since: int) -> list[str]:
    return fleet.events("rg")[since:]


def test_with_appendonly_every_acknowledged_write_survives_a_fleet_restart_and_the_primary_stays(fleet):
    port = start_group(fleet, cache_parameter_group_name=appendonly_group(fleet, "everysec"))
    primary = primary_of(group(fleet, "rg")).cache_cluster_id
    last = write(fleet, port, "k")
    wait_for(lambda: synced_past_the_window(fleet, port, last), 10, what="appendfsync's window to pass")
    before = len(fleet.events("rg"))

    fleet.restart()
    assert read_back(fleet, port, "k") == values()
    assert primary_of(wait_group(fleet, "rg", timeout=30)).cache_cluster_id == primary
    said = wait_for(lambda: [e for e in restart_events(fleet, before) if e.startswith("Replication group restarted")],
                    10, what="the restart event")
    assert said[0].startswith(f"Replication group restarted after every member stopped: {primary}-0001 came back "
                              "as primary with the freshest data, from its append-only file saved at ")
    assert not [e for e in restart_events(fleet, before) if "lost" in e or "fail" in e.lower()]


@pytest.mark.parametrize("version", ["7.0", "6.0"])   # 6.0: a single AOF file, its own INFO dialect
def test_with_appendonly_replicas_that_stopped_early_are_not_what_the_group_comes_back_from(fleet, version):
    port = start_group(fleet, engine_version=version,
                       cache_parameter_group_name=appendonly_group(fleet, "everysec", family=f"redis{version}"))
    g = group(fleet, "rg")
    primary = primary_of(g).cache_cluster_id
    write(fleet, port, "old")
    gone = {m.host_id for m in members(g).values() if m.current_role == "replica"}
    for host in (h for h in fleet.hosts if h.host_id in gone):
        fleet.kill_host(host)
    # Once their hosts are lost the primary no longer waits for a replica to take writes.
    wait_for(lambda: {h.host_id for h in fleet.describe_hosts() if h.status != "available"} == gone, 15,
             what="the replicas' hosts to be lost")
    client = client_for(fleet, PRIMARY, port)
    for i in range(KEYS):                           # on the primary alone: no replica has these
        wait_for(lambda: client.set(f"new{i}", i), 15, what="the primary to take writes without its replicas")
    last = time.time()
    wait_for(lambda: time.time() > last + FSYNC_WINDOW_S + 0.1 and not any(
        client.info("persistence")[f] for f in ("aof_buffer_length", "aof_pending_bio_fsync")), 10,
        what="appendfsync's window to pass")

    fleet.restart()
    assert read_back(fleet, port, "new") == values()
    assert read_back(fleet, port, "old") == values()
    assert primary_of(wait_group(fleet, "rg", timeout=30)).cache_cluster_id == primary


def test_without_appendonly_the_group_comes_back_from_the_rdb_saved_last_and_says_what_it_lost(fleet):
    port = start_group(fleet)
    g = group(fleet, "rg")
    saved = next(m.cache_cluster_id for m in members(g).values() if m.current_role == "replica")
    write(fleet, port, "old")
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=saved, snapshot_name="s"), timeout=5)
    wait_for(lambda: fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(snapshot_name="s"), timeout=2)
             .snapshots[0].snapshot_status == "available", 30, what="the snapshot (an RDB file on the replica)")
    snapshot_done = time.time()
    wait_for(lambda: time.time() > snapshot_done + 2, 5, what="the RDB file to be two seconds old")
    write(fleet, port, "new")                         # in no file: lost at the restart
    host = next(h for h in fleet.hosts if h.host_id == primary_of(g).host_id)
    wait_for(lambda: host.noted_write_keys("rg-001-0001") == 2 * KEYS, 5, what="the agent to see the writes")
    before = len(fleet.events("rg"))

    fleet.restart()
    assert read_back(fleet, port, "old") == values()
    assert read_back(fleet, port, "new") == [None] * KEYS
    assert primary_of(wait_group(fleet, "rg", timeout=30)).cache_cluster_id == saved
    events = wait_for(lambda: [e for e in restart_events(fleet, before) if "restarted" in e or "lost" in e],
                      10, what="the restart events")
    assert events[0].startswith(f"Replication group restarted after every member stopped: {saved}-0001 is primary "
                                f"in place of rg-001-0001 with the freshest data, from its RDB file saved at ")
    assert events[0].endswith("; appendonly is no: writes since that file was saved are lost")
    (loss,) = wait_for(lambda: [e for e in restart_events(fleet, before) if " lost: " in e], 10,
                       what="the loss event")
    said = re.fullmatch(r"Writes to replication group rg lost: its freshest copy is (\d+) s older than what it "
                        r"had acknowledged \(its last write was at [-\d: ]+ UTC, when it held (\d+) keys\)", loss)
    assert said, loss
    seconds, keys = map(int, said.groups())
    assert seconds >= 2 and keys == 2 * KEYS
