"""Backup and restore end to end: a real fleet (coordinator, agents, redis-server under
supervisord) snapshotting to moto's S3-compatible server through boto3, and new clusters
warm-started from those snapshots or from a user's own RDB object."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
import uuid

import grpc
import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.crash import crash_during
from tests.helpers.fleet import Fleet, free_port, wait_for
from tests.helpers.moto import store_flags
from tests.helpers.groups import create_group, group, members, primary_of, wait_group
from tests.helpers.proxy import CuttableProxy

KEYS = 5000


@pytest.fixture(scope="module")
def bucket(moto):
    name = f"snaps-{uuid.uuid4().hex[:10]}"
    moto.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def s3_path(moto):
    """The fleet reaches moto through this forwarder, so that a test can take the object store
    away (cut) and give it back (heal) while moto keeps every object the other tests made."""
    proxy = CuttableProxy(("127.0.0.1", moto.port))
    yield proxy
    proxy.close()


CLOSED_PORT = free_port("127.0.0.1")    # nothing listens there: a store no one can reach


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, moto, bucket, s3_path):
    """Coordinator and agents each have the store `default` (moto through the cuttable
    forwarder, keys in a credentials file of their own); the agents also have `broken`, an
    S3 endpoint on a closed port, and `gone`, a directory that does not exist."""
    base = tmp_path_factory.mktemp("snapshots")
    stores = store_flags("default", f"s3://{bucket}/fleet", f"http://{s3_path.endpoint}", base / "secrets")
    broken = ["--store", f"broken=s3://{bucket}/fleet", "--store-endpoint", f"broken=http://127.0.0.1:{CLOSED_PORT}",
              "--store", f"gone={base / 'no-such-dir'}"]
    f = Fleet(base, hosts=3, stores=stores, agent_args=broken).start()
    yield f
    f.discard()


def create(fleet: Fleet, cluster_id: str, engine: str = "redis", **kw) -> pb.CacheCluster:
    return fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id=cluster_id, engine=kw.pop("engine_", engine), cache_node_type="cache.t1.micro",
        num_cache_nodes=kw.pop("num_cache_nodes", 1), **kw), timeout=5).cache_cluster


def client(fleet: Fleet, cluster_id: str) -> redis.Redis:
    cluster = fleet.cluster(cluster_id)
    return redis.Redis(cluster.cache_nodes[0].host_address, cluster.port, socket_timeout=5)


def fill(r: redis.Redis, prefix: str = "key") -> None:
    pipe = r.pipeline(transaction=False)
    for start in range(0, KEYS, 1000):
        pipe.mset({f"{prefix}:{i}": f"value-{i}" for i in range(start, start + 1000)})
    pipe.execute()


def snapshot(fleet: Fleet, name: str) -> pb.Snapshot | None:
    try:
        return fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(snapshot_name=name), timeout=2).snapshots[0]
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def wait_snapshot(fleet: Fleet, name: str, status: str = "available", timeout: float = 30) -> pb.Snapshot:
    return wait_for(lambda: (s := snapshot(fleet, name)) is not None and s.snapshot_status == status and s,
                    timeout, what=f"snapshot {name} {status}")


def objects(moto, bucket: str, prefix: str = "") -> list[str]:
    reply = moto.client().list_objects_v2(Bucket=bucket, Prefix="fleet/" + prefix)
    return sorted(o["Key"] for o in reply.get("Contents", []))


def refused(call, code: grpc.StatusCode, error: str) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    assert caught.value.details().startswith(error + ": "), caught.value.details()
    return caught.value.details()


@pytest.fixture(scope="module")
def source(fleet):
    create(fleet, "src")
    fleet.wait_status("src", "available", 20)
    fill(client(fleet, "src"))
    return "src"


@pytest.fixture(scope="module")
def source_snapshot(fleet, source) -> pb.Snapshot:
    """A manual snapshot of `source` (its KEYS keys), available: the one the tests that read,
    copy or restore a snapshot use."""
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=source, snapshot_name="base"), timeout=5)
    return wait_snapshot(fleet, "base")


@pytest.fixture(scope="module")
def grp(fleet) -> str:
    """A two-member group with automatic failover, KEYS keys written and synced to its replica."""
    create_group(fleet, "grp", clusters=2, failover=True)
    g = wait_group(fleet, "grp", timeout=30)
    writer = redis.Redis(fleet.cluster(primary_of(g).cache_cluster_id).cache_nodes[0].host_address, g.port)
    fill(writer)
    assert writer.wait(1, 5000) == 1
    return "grp"


@pytest.fixture(scope="module")
def group_snapshot(fleet, grp) -> pb.Snapshot:
    """A manual snapshot of the group `grp`, available."""
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(replication_group_id=grp, snapshot_name="g1"), timeout=5)
    return wait_snapshot(fleet, "g1")


def automated(fleet: Fleet, cluster_id: str) -> list[pb.Snapshot]:
    return list(fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(
        cache_cluster_id=cluster_id, snapshot_source="automated"), timeout=2).snapshots)


def window_around_now(fleet: Fleet) -> tuple[datetime.datetime, str]:
    """The coordinator's time now, and a daily window from half an hour before it to half an hour after."""
    now = datetime.datetime.fromtimestamp(fleet.clock_offset() + time.time(), datetime.UTC)
    start = (now - datetime.timedelta(minutes=30)).strftime("%H:%M")
    end = (now + datetime.timedelta(minutes=30)).strftime("%H:%M")
    return now, f"{start}-{end}"


@pytest.fixture(scope="module")
def automated_snapshot(fleet) -> pb.Snapshot:
    """An automatic snapshot of the cluster `daily`, whose snapshot window is open when it is made."""
    _, window = window_around_now(fleet)
    create(fleet, "daily", snapshot_retention_limit=1, snapshot_window=window,
           preferred_maintenance_window="sun:01:00-sun:02:00")
    fleet.wait_status("daily", "available", 20)
    return wait_for(lambda: (a := automated(fleet, "daily")) and a[0].snapshot_status == "available" and a[0], 30,
                    what="an automatic snapshot of daily")


def test_snapshot_of_a_cluster_is_streamed_to_s3_and_restores_into_a_new_cluster(fleet, source, moto, bucket):
    r = client(fleet, source)
    r.config_set("rdb-key-save-delay", "200")   # ~1 s of BGSAVE: long enough to see `snapshotting`
    try:
        made = fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=source, snapshot_name="s1"),
                                         timeout=5).snapshot
        assert (made.snapshot_status, made.snapshot_source, made.cache_cluster_id) == ("creating", "manual", source)
        wait_for(lambda: fleet.cluster(source).cache_cluster_status == "snapshotting", 10, what="snapshotting")
        assert r.set("during", "snapshot")   # it keeps serving
    finally:
        r.config_set("rdb-key-save-delay", "0")
    done = wait_snapshot(fleet, "s1")
    assert fleet.cluster(source).cache_cluster_status == "available"
    node = done.node_snapshots[0]
    assert node.size_bytes > 50_000 and len(node.sha256) == 64 and done.engine_version.count(".") == 2
    assert objects(moto, bucket, "s1/") == [f"fleet/s1/{source}-0001.rdb", f"fleet/s1/{source}-0001.rdb.manifest.json"]
    assert any("Snapshot succeeded for snapshot with ID 's1'" in m for m in fleet.events(source))

    create(fleet, "warm", snapshot_name="s1")
    warm = fleet.wait_status("warm", "available", 30)
    assert (warm.engine_version, warm.cache_node_type) == (done.engine_version, done.cache_node_type)
    restored = client(fleet, "warm")
    # "during" was written while the snapshot ran: before or after its fork, either is right
    assert restored.dbsize() in (KEYS, KEYS + 1) and restored.get("key:4321") == b"value-4321"
    assert any("Restored cache node 0001 from s1" in m for m in fleet.events("warm"))


def test_a_restore_onto_an_older_engine_is_refused_and_nothing_is_created(fleet, source_snapshot):
    taken_on = source_snapshot.engine_version
    older = [v.engine_version for v in fleet.stub.DescribeCacheEngineVersions(
        pb.DescribeCacheEngineVersionsRequest(engine="redis"), timeout=2).cache_engine_versions
        if v.engine_version.split(".")[:2] < taken_on.split(".")[:2]]
    if not older:
        pytest.skip("only one redis version is installed")   # scripts/setup installs 6.0.8 and 6.0.9
    refused(lambda: create(fleet, "older", snapshot_name=source_snapshot.snapshot_name, engine_version=older[0]),
            grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterCombination")
    assert fleet.cluster("older") is None


def test_bad_snapshot_requests_are_refused_and_change_nothing(fleet, source, source_snapshot):
    create(fleet, "mc", engine="memcached")
    before = [s.snapshot_name for s in fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(), timeout=2).snapshots]
    refused(lambda: fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="mc", snapshot_name="m"),
                                              timeout=5),
            grpc.StatusCode.FAILED_PRECONDITION, "SnapshotFeatureNotSupportedFault")
    refused(lambda: fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(
        cache_cluster_id=source, snapshot_name=source_snapshot.snapshot_name), timeout=5),
            grpc.StatusCode.ALREADY_EXISTS, "SnapshotAlreadyExistsFault")
    refused(lambda: fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=source,
                                                                       snapshot_name="bad--name"), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
    refused(lambda: fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="nope", snapshot_name="x"),
                                              timeout=5),
            grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound")
    refused(lambda: fleet.stub.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_name="nope"), timeout=5),
            grpc.StatusCode.NOT_FOUND, "SnapshotNotFoundFault")
    refused(lambda: create(fleet, "badwarm", snapshot_name="nope"), grpc.StatusCode.NOT_FOUND, "SnapshotNotFoundFault")
    refused(lambda: create(fleet, "badarn", snapshot_arns=["http://x/y.rdb"]),
            grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
    refused(lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id=source, snapshot_retention_limit=36), timeout=5),
        grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
    window = fleet.cluster(source).preferred_maintenance_window     # ddd:hh:mi-ddd:hh:mi
    overlapping = f"{window[4:9]}-{(int(window[4:6]) + 1) % 24:02d}:{window[7:9]}"
    refused(lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id=source, snapshot_retention_limit=3, snapshot_window=overlapping), timeout=5),
        grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterCombination")
    refused(lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id="mc", snapshot_retention_limit=3), timeout=5),
        grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterCombination")
    after = fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(), timeout=2).snapshots
    assert [s.snapshot_name for s in after] == before
    described = fleet.cluster(source)
    assert described.HasField("snapshot_retention_limit") and described.snapshot_retention_limit == 0
    assert not fleet.cluster("mc").HasField("snapshot_retention_limit")
    for cluster_id in ("badwarm", "badarn"):
        assert fleet.cluster(cluster_id) is None


def test_snapshot_arns_outside_the_s3_store_are_refused_and_create_nothing(fleet, bucket):
    """Only objects in the snapshot store's own bucket and prefix: agents read nothing else."""
    for arn in ("file:///etc/passwd", "file:///var/lib/redis/dump.rdb", f"s3://{bucket}/../etc/passwd",
                f"s3://{bucket}/", "arn:aws:s3:::", f"https://{bucket}.s3.amazonaws.com/a.rdb",
                f"s3://{bucket}/users/mine.rdb", f"s3://other-{bucket}/fleet/a.rdb", f"s3://{bucket}/fleet/../a.rdb",
                f"s3://{bucket}/fleetx/a.rdb", f"arn:aws:s3:::{bucket}/elsewhere/a.rdb"):
        refused(lambda: create(fleet, "arnc", snapshot_arns=[arn]), grpc.StatusCode.INVALID_ARGUMENT,
                "InvalidParameterValue")
        refused(lambda: create_group(fleet, "arng", clusters=2, failover=True, snapshot_arns=[arn]),
                grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
    assert fleet.cluster("arnc") is None and fleet.cluster("arng-001") is None
    assert all(g.replication_group_id != "arng" for g in fleet.stub.DescribeReplicationGroups(
        pb.DescribeReplicationGroupsRequest(), timeout=2).replication_groups)


def test_a_users_rdb_in_s3_warm_starts_a_cluster_and_a_corrupt_one_never_starts(fleet, moto, bucket, tmp_path):
    port = free_port("127.0.0.1")
    bare = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--save", ""], stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis("127.0.0.1", port)
        wait_for(lambda: r.ping(), 10, what="bare redis")
        fill(r, "mine")
        r.save()
    finally:
        os.kill(bare.pid, signal.SIGKILL)
        bare.wait()
    s3 = moto.client()
    s3.upload_file(str(tmp_path / "dump.rdb"), bucket, "fleet/users/mine.rdb")
    s3.put_object(Bucket=bucket, Key="fleet/users/junk.rdb", Body=os.urandom(4096))

    create(fleet, "mine", snapshot_arns=[f"s3://{bucket}/fleet/users/mine.rdb"])
    fleet.wait_status("mine", "available", 30)
    assert client(fleet, "mine").get("mine:77") == b"value-77"

    create(fleet, "junk", snapshot_arns=[f"arn:aws:s3:::{bucket}/fleet/users/junk.rdb"])
    junk = fleet.wait_status("junk", "restore-failed", 30)
    assert "redis-check-rdb" in junk.cache_nodes[0].cache_node_status + "".join(fleet.events("junk"))
    host = fleet.host_by_address(junk.cache_nodes[0].host_address)
    assert not (host.state_dir / "data" / "junk-0001" / "dump.rdb").exists()
    assert all("junk" not in p for p in _programs(host))
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="junk"), timeout=5)
    fleet.wait_gone("junk")

    create(fleet, "gone", snapshot_arns=[f"s3://{bucket}/fleet/users/no-such.rdb"])   # refused at once, not retried
    fleet.wait_status("gone", "restore-failed", 15)
    assert any("SnapshotNotFoundFault" in m for m in fleet.events("gone"))


def _programs(host) -> list[str]:
    conf = host.state_dir / "programs"
    return [p.name for p in conf.iterdir()] if conf.exists() else []


def test_copy_then_delete_removes_the_objects_and_the_record(fleet, source_snapshot, moto, bucket):
    original = source_snapshot
    fleet.stub.CopySnapshot(pb.CopySnapshotRequest(source_snapshot_name=original.snapshot_name,
                                                   target_snapshot_name="base-copy"), timeout=5)
    copy = wait_snapshot(fleet, "base-copy")
    assert copy.node_snapshots[0].sha256 == original.node_snapshots[0].sha256
    assert copy.snapshot_source == "manual"
    assert len(objects(moto, bucket, "base-copy/")) == 2
    deleting = fleet.stub.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_name="base-copy"), timeout=5).snapshot
    assert deleting.snapshot_status == "deleting"
    wait_for(lambda: snapshot(fleet, "base-copy") is None, 15, what="copy deleted")
    assert objects(moto, bucket, "base-copy/") == []
    assert snapshot(fleet, original.snapshot_name).snapshot_status == "available"


def test_a_final_snapshot_is_taken_before_the_cluster_is_deleted_and_kept(fleet):
    create(fleet, "doomed")
    fleet.wait_status("doomed", "available", 20)
    client(fleet, "doomed").set("last", "words")
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="doomed",
                                                               final_snapshot_identifier="doomed-final"), timeout=5)
    fleet.wait_gone("doomed", 30)
    final = wait_snapshot(fleet, "doomed-final")
    assert (final.snapshot_source, final.cache_cluster_id) == ("manual", "doomed")
    create(fleet, "reborn", snapshot_name="doomed-final")
    fleet.wait_status("reborn", "available", 30)
    assert client(fleet, "reborn").get("last") == b"words"


def test_a_group_snapshot_is_taken_on_a_replica_and_a_killed_replica_fails_it_cleanly(fleet, grp, group_snapshot,
                                                                                      moto, bucket):
    g = wait_group(fleet, grp, timeout=30)
    primary = primary_of(g)
    replica = next(m for m in members(g).values() if m.current_role == "replica")
    writer = redis.Redis(fleet.cluster(primary.cache_cluster_id).cache_nodes[0].host_address, g.port)
    taken = group_snapshot
    assert (taken.cache_cluster_id, taken.replication_group_id) == (replica.cache_cluster_id, grp)

    # the replica dies during BGSAVE: the snapshot fails with the reason, leaves no object,
    # and the group keeps taking writes
    replica_client = client(fleet, replica.cache_cluster_id)
    replica_client.config_set("rdb-key-save-delay", "1000")   # ~5 s of BGSAVE
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(replication_group_id=grp, snapshot_name="g2"), timeout=5)
    wait_for(lambda: replica_client.info("persistence")["rdb_bgsave_in_progress"] == 1, 10, what="BGSAVE")
    engine_pid = int(replica_client.info("server")["process_id"])
    os.kill(engine_pid, signal.SIGKILL)
    failed = wait_snapshot(fleet, "g2", "failed", 30)
    assert failed.status_reason and "g2" not in "".join(objects(moto, bucket, "g2/"))
    assert any("Snapshot failed for snapshot with ID 'g2'" in m for m in fleet.events(replica.cache_cluster_id))
    assert writer.set("after", "failure")
    # the killed replica comes back, follows the primary again and serves what was written meanwhile
    wait_for(lambda: (d := group(fleet, grp)) and d.status == "available"
             and members(d)[replica.cache_cluster_id].current_role == "replica"
             and members(d)[replica.cache_cluster_id].replication_link_status == "up", 30,
             what="the killed replica back in the group")
    wait_for(lambda: client(fleet, replica.cache_cluster_id).get("after") == b"failure", 15,
             what="the replica to serve the write made while it was down")
    assert client(fleet, replica.cache_cluster_id).get("key:4321") == b"value-4321"


def test_a_group_warm_starts_its_primary_and_its_replicas_sync_from_it(fleet, source_snapshot, bucket, moto):
    create_group(fleet, "wgrp", clusters=2, failover=True, snapshot_name=source_snapshot.snapshot_name)
    g = wait_group(fleet, "wgrp", timeout=40)
    primary = fleet.cluster(primary_of(g).cache_cluster_id).cache_nodes[0].host_address
    replica_id = next(m for m in members(g).values() if m.current_role == "replica").cache_cluster_id
    writer = redis.Redis(primary, g.port)
    assert writer.get("key:4321") == b"value-4321"
    writer.set("fresh", "write")
    assert writer.wait(1, 5000) == 1
    replica = client(fleet, replica_id)
    assert replica.get("key:4321") == b"value-4321" and replica.get("fresh") == b"write"

    moto.client().put_object(Bucket=bucket, Key="fleet/users/junk2.rdb", Body=os.urandom(4096))
    create_group(fleet, "jgrp", clusters=2, failover=True, snapshot_arns=[f"s3://{bucket}/fleet/users/junk2.rdb"])
    wait_group(fleet, "jgrp", "create-failed", timeout=30)
    fleet.stub.DeleteReplicationGroup(pb.DeleteReplicationGroupRequest(replication_group_id="jgrp"), timeout=5)
    wait_for(lambda: fleet.stub.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest(), timeout=2)
             and all(x.replication_group_id != "jgrp" for x in fleet.stub.DescribeReplicationGroups(
                 pb.DescribeReplicationGroupsRequest(), timeout=2).replication_groups), 30, what="jgrp deleted")


def test_a_group_deleted_with_a_final_snapshot_keeps_its_data_in_it(fleet):
    create_group(fleet, "fgrp", clusters=2, failover=True)
    g = wait_group(fleet, "fgrp", timeout=30)
    writer = redis.Redis(fleet.cluster(primary_of(g).cache_cluster_id).cache_nodes[0].host_address, g.port)
    writer.set("group", "data")
    assert writer.wait(1, 5000) == 1
    fleet.stub.DeleteReplicationGroup(pb.DeleteReplicationGroupRequest(
        replication_group_id="fgrp", final_snapshot_identifier="fgrp-final"), timeout=5)
    final = wait_snapshot(fleet, "fgrp-final", timeout=30)
    assert final.replication_group_id == "fgrp" and final.snapshot_source == "manual"
    wait_for(lambda: all(x.replication_group_id != "fgrp" for x in fleet.stub.DescribeReplicationGroups(
        pb.DescribeReplicationGroupsRequest(), timeout=2).replication_groups), 30, what="fgrp deleted")
    create(fleet, "fgrp-back", snapshot_name="fgrp-final")
    fleet.wait_status("fgrp-back", "available", 30)
    assert client(fleet, "fgrp-back").get("group") == b"data"


def test_a_crash_after_the_upload_retakes_the_snapshot(fleet, source, moto, bucket):
    crash_during(fleet, "snapshot.after_upload", lambda: fleet.stub.CreateSnapshot(
        pb.CreateSnapshotRequest(cache_cluster_id=source, snapshot_name="crash1"), timeout=5))
    done = wait_snapshot(fleet, "crash1")
    assert objects(moto, bucket, "crash1/") == ["fleet/crash1/src-0001.rdb", "fleet/crash1/src-0001.rdb.manifest.json"]
    assert done.node_snapshots[0].size_bytes > 0


def test_a_crash_between_removing_the_objects_and_the_record_finishes_the_deletion(fleet, source_snapshot, moto,
                                                                                   bucket):
    fleet.stub.CopySnapshot(pb.CopySnapshotRequest(source_snapshot_name=source_snapshot.snapshot_name,
                                                   target_snapshot_name="crash2"), timeout=5)
    wait_snapshot(fleet, "crash2")
    crash_during(fleet, "snapshot.after_objects_deleted", lambda: fleet.stub.DeleteSnapshot(
        pb.DeleteSnapshotRequest(snapshot_name="crash2"), timeout=5))
    wait_for(lambda: snapshot(fleet, "crash2") is None, 20, what="the deletion to finish after the restart")
    assert objects(moto, bucket, "crash2/") == []


def test_automatic_snapshots_are_taken_once_per_window_and_pruned_after_the_retention(fleet, moto, bucket):
    noon, window = window_around_now(fleet)
    create(fleet, "auto", snapshot_retention_limit=1, snapshot_window=window,
           preferred_maintenance_window="sun:01:00-sun:02:00")
    fleet.wait_status("auto", "available", 20)
    client(fleet, "auto").set("k", "v")
    first = wait_for(lambda: (a := automated(fleet, "auto")) and a[0].snapshot_status == "available" and a[0], 30,
                     what="an automatic snapshot")
    assert first.snapshot_name.startswith("automatic.auto-") and first.snapshot_retention_limit == 1
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="auto", snapshot_name="auto-manual"),
                              timeout=5)
    wait_snapshot(fleet, "auto-manual")
    assert [s.snapshot_name for s in automated(fleet, "auto")] == [first.snapshot_name]   # once per window

    fleet.set_clock(noon.timestamp() + 2 * 86400)   # two days on: inside that day's window
    wait_for(lambda: [s.snapshot_name for s in automated(fleet, "auto")] not in ([first.snapshot_name], []) and
             first.snapshot_name not in [s.snapshot_name for s in automated(fleet, "auto")], 30,
             what="prune and retake")
    assert objects(moto, bucket, first.snapshot_name + "/") == []
    assert snapshot(fleet, "auto-manual").snapshot_status == "available"   # manual ones are never pruned


def described(fleet: Fleet, **filters) -> list[pb.Snapshot]:
    return list(fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(**filters), timeout=2).snapshots)


def test_describe_snapshots_filters_by_group_and_by_source(fleet, grp, group_snapshot, source_snapshot,
                                                           automated_snapshot):
    of_group = described(fleet, replication_group_id=grp)
    assert group_snapshot.snapshot_name in [s.snapshot_name for s in of_group]
    assert {s.replication_group_id for s in of_group} == {grp}
    assert described(fleet, replication_group_id="no-such-group") == []
    manual, auto = described(fleet, snapshot_source="manual"), described(fleet, snapshot_source="automated")
    assert source_snapshot.snapshot_name in [s.snapshot_name for s in manual]
    assert {s.snapshot_source for s in manual} == {"manual"}
    assert automated_snapshot.snapshot_name in [s.snapshot_name for s in auto]
    assert {s.snapshot_source for s in auto} == {"automated"}
    assert len(manual) + len(auto) == len(described(fleet))
    refused(lambda: described(fleet, snapshot_source="bogus"), grpc.StatusCode.INVALID_ARGUMENT,
            "InvalidParameterValue")


def test_bad_snapshot_settings_are_refused_and_change_nothing(fleet, source, source_snapshot):
    before = fleet.cluster(source)
    for settings in ({"snapshot_retention_limit": -1}, {"snapshot_window": "25:00-26:00"},
                     {"snapshot_window": "03:00"}, {"snapshot_retention_limit": 2, "snapshot_window": "03:00"}):
        refused(lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id=source, **settings), timeout=5), grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
        refused(lambda: create(fleet, "badset", **settings), grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")
    after = fleet.cluster(source)
    assert (after.snapshot_retention_limit, after.snapshot_window) == (before.snapshot_retention_limit,
                                                                     before.snapshot_window)
    assert fleet.cluster("badset") is None
    refused(lambda: create(fleet, "mcwarm", engine="memcached", snapshot_name=source_snapshot.snapshot_name),
            grpc.StatusCode.FAILED_PRECONDITION, "SnapshotFeatureNotSupportedFault")
    assert fleet.cluster("mcwarm") is None


def test_a_snapshot_being_created_cannot_be_deleted(fleet, source):
    r = client(fleet, source)
    r.config_set("rdb-key-save-delay", "200")   # ~1 s of BGSAVE
    try:
        fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=source, snapshot_name="busy"), timeout=5)
        refused(lambda: fleet.stub.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_name="busy"), timeout=5),
                grpc.StatusCode.FAILED_PRECONDITION, "InvalidSnapshotState")
        assert snapshot(fleet, "busy").snapshot_status == "creating"
    finally:
        r.config_set("rdb-key-save-delay", "0")
    wait_snapshot(fleet, "busy")


def test_a_maintenance_window_overlapping_the_snapshot_window_is_refused_on_modify(fleet, source, grp):
    wait_group(fleet, grp, timeout=30)
    fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id=source, snapshot_retention_limit=1, snapshot_window="10:00-11:00"), timeout=5)
    fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
        replication_group_id=grp, snapshot_retention_limit=1, snapshot_window="10:00-11:00"), timeout=5)
    try:
        before = fleet.cluster(source).preferred_maintenance_window
        refused(lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id=source, preferred_maintenance_window="sun:10:30-sun:11:30"), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterCombination")
        refused(lambda: fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id=grp, preferred_maintenance_window="tue:09:30-tue:10:30"), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterCombination")
        assert fleet.cluster(source).preferred_maintenance_window == before
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(   # apart from it: accepted
            cache_cluster_id=source, preferred_maintenance_window="sun:12:00-sun:13:00"), timeout=5)
        assert fleet.cluster(source).preferred_maintenance_window == "sun:12:00-sun:13:00"
    finally:
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id=source, snapshot_retention_limit=0), timeout=5)
        fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id=grp, snapshot_retention_limit=0), timeout=5)


def test_an_object_store_that_is_down_fails_the_snapshot_and_the_cluster_keeps_serving(fleet, source, s3_path):
    s3_path.cut(refuse=True)   # the store is down: every connection to it fails at once
    try:
        fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id=source, snapshot_name="down"),
                                  timeout=5)
        failed = wait_snapshot(fleet, "down", "failed", 90)
        assert "upload" in failed.status_reason and not failed.node_snapshots
        assert any("Snapshot failed for snapshot with ID 'down'" in m for m in fleet.events(source))
        assert fleet.cluster(source).cache_cluster_status == "available"
        assert client(fleet, source).ping()
    finally:
        s3_path.heal()


def test_describe_hosts_shows_each_agents_stores_and_the_unreachable_ones_say_why(fleet):
    def reported():
        """Every store checked, the default one found reachable (an earlier test may have had it
        down for a while: an unreachable store is checked again within seconds)."""
        hosts = fleet.describe_hosts()
        return hosts if all(len(h.stores) == 3 and all(s.status != "checking" for s in h.stores)
                            and any(s.store_name == "default" and s.status == "available" for s in h.stores)
                            for h in hosts) else None
    for host in wait_for(reported, 30, what="every agent's stores checked, the default one reachable"):
        stores = {s.store_name: s for s in host.stores}
        assert stores["default"].status == "available", stores["default"]
        assert stores["broken"].status == "unreachable" and str(CLOSED_PORT) in stores["broken"].location
        assert "127.0.0.1" in stores["broken"].message and stores["broken"].message
        assert stores["gone"].status == "unreachable" and "does not exist" in stores["gone"].message
        assert "testing" not in str(host)    # no credential travels
    log = (fleet.base / "agent-host1.log").read_text()
    assert '"object store unreachable"' in log and "no-such-dir" in log


@pytest.fixture(scope="module")
def local_fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("local") / "fleet", hosts=1).start()
    yield f
    f.discard()


@pytest.fixture(scope="module")
def local_snapshot(local_fleet) -> pb.Snapshot:
    """Snapshot l1 of the cluster `loc` (here = there) in the local fleet's store, available."""
    f = local_fleet
    create(f, "loc")
    f.wait_status("loc", "available", 20)
    client(f, "loc").set("here", "there")
    f.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="loc", snapshot_name="l1"), timeout=5)
    return wait_snapshot(f, "l1")


def test_the_embedded_default_is_a_local_directory_store(local_fleet, local_snapshot):
    f = local_fleet
    done = local_snapshot
    assert done.arn.startswith("file://")
    rdb = f.state_dir / "snapshots" / "l1" / "loc-0001.rdb"
    assert rdb.stat().st_size == done.node_snapshots[0].size_bytes
    create(f, "loc2", snapshot_name="l1")
    f.wait_status("loc2", "available", 30)
    assert client(f, "loc2").get("here") == b"there"


def test_a_local_store_restores_only_files_inside_its_directory(local_fleet, local_snapshot, tmp_path):
    f = local_fleet
    store = local_snapshot.arn.rsplit("/l1/", 1)[0]      # file://STATE_DIR/snapshots
    outside = tmp_path / "outside.rdb"
    outside.write_bytes((f.state_dir / "snapshots" / "l1" / "loc-0001.rdb").read_bytes())
    (f.state_dir / "snapshots" / "escape").symlink_to(tmp_path)
    for arn in ("file:///etc/passwd", outside.as_uri(), f"{store}/../{outside.name}", f"{store}/l1/../../x.rdb",
                f"{store}x/l1/loc-0001.rdb", "s3://bucket/key.rdb", "local://../outside.rdb", "local:///etc/passwd"):
        refused(lambda: create(f, "locbad", snapshot_arns=[arn]), grpc.StatusCode.INVALID_ARGUMENT,
                "InvalidParameterValue")
        assert f.cluster("locbad") is None
    create(f, "locsym", snapshot_arns=[f"{store}/escape/outside.rdb"])   # the agent refuses a symlink out
    failed = f.wait_status("locsym", "restore-failed", 30)
    assert "outside" in failed.cache_nodes[0].cache_node_status + "".join(f.events("locsym"))
    create(f, "locarn", snapshot_arns=[f"{store}/l1/loc-0001.rdb"])   # a file inside the store is fine
    f.wait_status("locarn", "available", 30)
    assert client(f, "locarn").get("here") == b"there"
    create(f, "locrel", snapshot_arns=["local://l1/loc-0001.rdb"])   # named by its path in the store
    f.wait_status("locrel", "available", 30)
    assert client(f, "locrel").get("here") == b"there"


@pytest.fixture()
def freezing_fleet(tmp_path):
    """One host whose agent freezes (SIGSTOP) once it has committed a snapshot, before answering."""
    f = Fleet(tmp_path / "fleet", hosts=1, agent_env={"CACHEFLEET_FAILPOINTS": "snapshot.after_commit:stop"})
    yield f.start()
    for host in f.hosts:
        if host.proc is not None and host.proc.poll() is None:
            os.kill(host.proc.pid, signal.SIGCONT)
    f.discard()


def remount(path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def process_state(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


def test_a_failed_snapshot_removes_its_object_once_the_store_can_delete_again(freezing_fleet, tiny_disk):
    f = freezing_fleet
    create(f, "frz")
    f.wait_status("frz", "available", 20)
    client(f, "frz").set("k", "v")
    objects_dir = f.state_dir / "snapshots" / "f1"
    tiny_disk(objects_dir)
    f.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="frz", snapshot_name="f1"), timeout=5)
    agent = f.hosts[0].proc
    wait_for(lambda: process_state(agent.pid) == "T", 20, what="the agent frozen after committing")
    assert sorted(p.name for p in objects_dir.iterdir()) == ["frz-0001.rdb", "frz-0001.rdb.manifest.json"]
    remount(objects_dir, "ro")   # the store cannot delete now
    try:
        os.kill(agent.pid, signal.SIGKILL)   # the agent dies before answering: the call fails
        failed = wait_snapshot(f, "f1", "failed", 30)
        assert not failed.node_snapshots and failed.status_reason
        assert len(list(objects_dir.iterdir())) == 2     # the cleanup could not remove it
    finally:
        remount(objects_dir, "rw")
    wait_for(lambda: not list(objects_dir.iterdir()), 15, what="the failed snapshot's object removed")
    assert snapshot(f, "f1").snapshot_status == "failed"
