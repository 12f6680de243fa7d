"""TakeSnapshot / RestoreNodeData against a real agent, real redis-server and moto's S3 server.

The agent has three stores of its own configuration: `s3` (moto), `cut` (moto behind a proxy
a test can cut) and `local` (a directory); requests name one of them and a key."""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
import uuid

import grpc
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from cachefleet.common.objectstore import make_store
from tests.helpers.moto import store_flags
from tests.helpers.proxy import CuttableProxy
from tests.helpers.agent import AgentProcess, FakeCoordinator, free_port, loopback_address, wait_until

ADDRESS = loopback_address("127.0.78")
KEYS = 10_000


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator() as fake:
        yield fake


@pytest.fixture(scope="module")
def bucket(moto):
    """The bucket of the agent's `s3` and `cut` stores (prefixes snapshots/ and cut-store/),
    and a store of the test's own on the `s3` store's place, to look at what the agent wrote."""
    name = f"snap-{uuid.uuid4().hex[:12]}"
    moto.client().create_bucket(Bucket=name)
    store = make_store(f"s3://{name}/snapshots", endpoint_url=moto.endpoint, region="us-east-1",
                       access_key="testing", secret_key="testing")
    return name, store


@pytest.fixture(scope="module")
def moto_proxy(moto):
    host, port = moto.endpoint.rsplit("/", 1)[1].split(":")
    proxy = CuttableProxy((host, int(port)))
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    return tmp_path_factory.mktemp("local-store")


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator, moto, bucket, moto_proxy, local_store):
    name, _ = bucket
    secrets = tmp_path_factory.mktemp("secrets")
    flags = [*store_flags("s3", f"s3://{name}/snapshots", moto.endpoint, secrets),
             *store_flags("cut", f"s3://{name}/cut-store", f"http://{moto_proxy.endpoint}", secrets),
             "--store-timeout", "cut=3",     # a cut stalls each attempt this long, not the default 60 s
             "--store", f"local={local_store}"]
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint,
                      extra_args=flags).start() as running:
        yield running


def node_spec(key: str, engine: str = "redis") -> pb.NodeSpec:
    return pb.NodeSpec(node_key=key, cache_cluster_id=key.rsplit("-", 1)[0], cache_node_id="0001",
                       engine=engine, port=free_port(ADDRESS), max_memory_mb=64)


def start(agent: AgentProcess, coordinator: FakeCoordinator, spec: pb.NodeSpec) -> None:
    agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=spec), timeout=15)
    coordinator.wait_for_node(spec.node_key, pb.NODE_STATUS_AVAILABLE, timeout=10)


def client(spec: pb.NodeSpec) -> redis.Redis:
    return redis.Redis(ADDRESS, spec.port, socket_timeout=5)


def fill(spec: pb.NodeSpec) -> None:
    r = client(spec)
    pipe = r.pipeline(transaction=False)
    for start_at in range(0, KEYS, 1000):
        pipe.mset({f"key:{i}": f"value-{i}" for i in range(start_at, start_at + 1000)})
    pipe.execute()
    assert r.dbsize() == KEYS


def snapshot(agent, spec, key, timeout=20, store="s3", **metadata):
    return agent.stub().TakeSnapshot(pb.TakeSnapshotRequest(
        node_key=spec.node_key, store=store, key=key, metadata=metadata), timeout=timeout)


def restore(agent, node_key, key, sha256="", store="s3"):
    return agent.stub().RestoreNodeData(pb.RestoreNodeDataRequest(
        node_key=node_key, store=store, key=key, sha256=sha256), timeout=20)


def sha_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def source(agent, coordinator):
    spec = node_spec("snapsrc-0001")
    start(agent, coordinator, spec)
    fill(spec)
    return spec


def test_snapshot_streams_the_rdb_with_size_sha256_and_metadata(agent, source, bucket):
    _, store = bucket
    result = snapshot(agent, source, "manual/s1.rdb", snapshot_name="s1")
    rdb = agent.state.data_dir(source.node_key) / "dump.rdb"
    assert result.size == rdb.stat().st_size > 100_000
    assert result.sha256 == sha_file(rdb)
    assert result.engine_version.count(".") == 2
    listed = store.list("manual/")
    assert [(o.key, o.size, o.sha256) for o in listed] == [("manual/s1.rdb", result.size, result.sha256)]
    assert listed[0].metadata["engine_version"] == result.engine_version
    assert listed[0].metadata["snapshot_name"] == "s1"
    assert client(source).ping()  # still serving


def test_an_encrypted_snapshot_rests_encrypted_in_s3_and_for_the_agents_user_only_in_a_local_store(
        agent, source, bucket, moto, local_store):
    name, _ = bucket
    for store, key in (("s3", "enc/s.rdb"), ("local", "enc/s.rdb")):
        agent.stub().TakeSnapshot(pb.TakeSnapshotRequest(node_key=source.node_key, store=store, key=key,
                                                         encrypted=True), timeout=20)
    snapshot(agent, source, "plain/s.rdb")
    s3 = moto.client()
    for key in ("snapshots/enc/s.rdb", "snapshots/enc/s.rdb.manifest.json"):
        assert s3.head_object(Bucket=name, Key=key).get("ServerSideEncryption") == "AES256"
    assert "ServerSideEncryption" not in s3.head_object(Bucket=name, Key="snapshots/plain/s.rdb")
    assert oct((local_store / "enc").stat().st_mode & 0o777) == "0o700"
    assert oct((local_store / "enc" / "s.rdb").stat().st_mode & 0o777) == "0o600"


def test_a_second_snapshot_of_the_node_is_refused_while_one_runs(agent, source, bucket):
    _, store = bucket
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(snapshot, agent, source, f"c/{i}.rdb") for i in range(2)]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except grpc.RpcError as error:
                outcomes.append(error)
    errors = [o for o in outcomes if isinstance(o, grpc.RpcError)]
    assert len(errors) == 1, [(e.code(), e.details()) if isinstance(e, grpc.RpcError) else e for e in outcomes]
    assert errors[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already in progress" in errors[0].details()
    assert len(store.list("c/")) == 1


def test_a_snapshot_survives_the_probe_connection_being_dropped(agent, source, bucket):
    """The probe connection is closed whenever a probe times out (a loaded machine): a
    snapshot in flight must not depend on it."""
    _, store = bucket
    r = client(source)
    r.config_set("rdb-key-save-delay", "50")  # microseconds per key: ~0.5 s for 10k keys
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(snapshot, agent, source, "dropped.rdb")
            wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 1, 10)
            probes = [c["id"] for c in r.client_list() if c["name"] == "cachefleet-agent"]
            assert probes
            for client_id in probes:
                r.client_kill_filter(_id=client_id)
            result = future.result(timeout=30)
    finally:
        r.config_set("rdb-key-save-delay", "0")
    assert store.head("dropped.rdb").sha256 == result.sha256


def test_snapshot_refused_while_a_bgsave_runs(agent, source, bucket):
    _, store = bucket
    r = client(source)
    r.config_set("rdb-key-save-delay", "100")  # microseconds per key: ~1 s for 10k keys
    try:
        r.bgsave()
        with pytest.raises(grpc.RpcError) as caught:
            snapshot(agent, source, "busy.rdb")
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "BGSAVE is already running" in caught.value.details()
    finally:
        r.config_set("rdb-key-save-delay", "0")
        wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, 10)
    assert store.head("busy.rdb") is None


def test_memcached_snapshot_is_refused(agent, coordinator, bucket):
    spec = node_spec("snapmc-0001", engine="memcached")
    start(agent, coordinator, spec)
    with pytest.raises(grpc.RpcError) as caught:
        snapshot(agent, spec, "mc.rdb")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details().startswith("SnapshotFeatureNotSupportedFault: ")


def test_restore_then_start_serves_the_snapshot_data(agent, coordinator, source, bucket):
    result = snapshot(agent, source, "r/s.rdb")
    target = node_spec("snaprestored-0001")
    restored = restore(agent, target.node_key, "r/s.rdb", sha256=result.sha256)
    assert (restored.size, restored.sha256) == (result.size, result.sha256)
    assert sorted(p.name for p in agent.state.data_dir(target.node_key).iterdir()) == ["dump.rdb"]
    start(agent, coordinator, target)
    r = client(target)
    wait_until(lambda: r.dbsize() == KEYS, 10)
    assert r.get("key:4321") == b"value-4321"
    with pytest.raises(grpc.RpcError) as caught:  # running now: refused
        restore(agent, target.node_key, "r/s.rdb")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert r.dbsize() == KEYS


def test_corrupt_object_is_refused_and_leaves_no_node_data(agent, bucket):
    _, store = bucket
    store.put_stream("junk.rdb", [os.urandom(64 * 1024)], {})
    with pytest.raises(grpc.RpcError) as caught:
        restore(agent, "snapjunk-0001", "junk.rdb")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "redis-check-rdb" in caught.value.details()
    assert not agent.state.data_dir("snapjunk-0001").exists()


def test_sha256_mismatch_is_refused(agent, source, bucket):
    result = snapshot(agent, source, "m/s.rdb")
    with pytest.raises(grpc.RpcError) as caught:   # checked when taken: the sha256 still binds the bytes
        restore(agent, "snapsha-0001", "m/s.rdb", sha256="0" * 64)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert result.sha256 in caught.value.details() and "expected" in caught.value.details()
    assert not agent.state.data_dir("snapsha-0001").exists()


def test_a_full_disk_during_bgsave_fails_the_snapshot_and_stores_nothing(agent, coordinator, bucket, tiny_disk):
    _, store = bucket
    spec = node_spec("snapfull-0001")
    tiny_disk(agent.state.data_dir(spec.node_key))
    start(agent, coordinator, spec)
    r = client(spec)
    r.mset({f"big:{i}": os.urandom(1024).hex() for i in range(2000)})   # ~4 MB, incompressible
    with pytest.raises(grpc.RpcError) as caught:
        snapshot(agent, spec, "full.rdb")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "BGSAVE failed" in caught.value.details()
    assert store.head("full.rdb") is None and store.list("full") == []
    assert r.ping() and r.dbsize() == 2000   # still serving


def test_a_full_disk_during_restore_is_refused_and_leaves_no_file(agent, source, bucket, tiny_disk):
    fill_big = client(source)
    fill_big.mset({f"bulk:{i}": os.urandom(1024).hex() for i in range(1000)})   # the RDB outgrows 1 MiB
    result = snapshot(agent, source, "bigdisk/s.rdb")
    assert result.size > 1 << 20
    target = "snaptiny-0001"
    tiny_disk(agent.state.data_dir(target))
    with pytest.raises(grpc.RpcError) as caught:
        restore(agent, target, "bigdisk/s.rdb", sha256=result.sha256)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "No space left" in caught.value.details()
    assert list(agent.state.data_dir(target).iterdir()) == []
    fill_big.delete(*[f"bulk:{i}" for i in range(1000)])


def test_a_restore_or_snapshot_outside_the_store_is_refused(agent, source, local_store):
    (local_store / "link.rdb").symlink_to(agent.state.data_dir(source.node_key) / "dump.rdb")
    try:
        for call in (lambda: restore(agent, "snapout-0001", "link.rdb", store="local"),
                     lambda: restore(agent, "snapout-0001", "../local-store/x.rdb", store="local"),
                     lambda: snapshot(agent, source, "link.rdb", store="local")):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    finally:
        (local_store / "link.rdb").unlink()
    assert not agent.state.data_dir("snapout-0001").exists()


def test_a_request_naming_an_unknown_store_is_refused_and_writes_nothing(agent, source, bucket):
    _, store = bucket
    for call in (lambda: snapshot(agent, source, "unknown/s.rdb", store="elsewhere"),
                 lambda: restore(agent, "snapunknown-0001", "unknown/s.rdb", store="elsewhere"),
                 lambda: restore(agent, "snapunknown-0001", "unknown/s.rdb", store="")):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("InvalidParameterValue: "), caught.value.details()
        assert "no object store named" in caught.value.details()
    assert store.list("unknown/") == []
    assert not agent.state.data_dir("snapunknown-0001").exists()


@pytest.mark.parametrize("key", ["../x.rdb", "a/../x.rdb", "x.rdb\n", "/x.rdb", "a//x.rdb", ".hidden.rdb",
                                 "x.rdb\nmore", "a/./x.rdb", "x\x00.rdb"])
def test_a_key_that_is_not_one_whole_is_refused(agent, source, key):
    for call in (lambda: snapshot(agent, source, key, store="local"),
                 lambda: restore(agent, "snapkey-0001", key, store="local")):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        assert "invalid object key" in caught.value.details()
    assert not agent.state.data_dir("snapkey-0001").exists()


def test_bytes_failing_redis_check_rdb_are_never_installed_and_the_node_keeps_its_data(
        agent, coordinator, source, bucket):
    """Even with the sha256 of exactly those bytes (as a caller would pass a manifest's): the
    request cannot skip the check, and the node's own dump.rdb stays as it was."""
    _, store = bucket
    junk = os.urandom(64 * 1024)
    store.put_stream("bad/junk.rdb", [junk], {})
    target = node_spec("snapkeep-0001")
    data = agent.state.data_dir(target.node_key)
    data.mkdir(parents=True)
    good = (agent.state.data_dir(source.node_key) / "dump.rdb").read_bytes()
    (data / "dump.rdb").write_bytes(good)
    with pytest.raises(grpc.RpcError) as caught:
        restore(agent, target.node_key, "bad/junk.rdb", sha256=hashlib.sha256(junk).hexdigest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "redis-check-rdb" in caught.value.details()
    assert sorted(p.name for p in data.iterdir()) == ["dump.rdb"]
    assert (data / "dump.rdb").read_bytes() == good
    start(agent, coordinator, target)
    wait_until(lambda: client(target).get("key:4321") == b"value-4321", 10)   # the data it had


def test_the_agent_reports_its_stores_in_heartbeats(agent, coordinator):
    def reported():
        latest = coordinator.latest(agent.host_id)
        stores = {s.store_name: s for s in latest.host.stores} if latest else {}
        return stores if all(s.status == "available" for s in stores.values()) and len(stores) == 3 else None
    stores = wait_until(reported, 10)
    assert stores["s3"].location.startswith("s3://") and "testing" not in str(stores)
    assert stores["local"].location.endswith("local-store0")


BIG_MB = 25


@pytest.fixture(scope="module")
def big_source(agent, coordinator):
    """A node holding ~25 MB of incompressible values: an RDB of five 6 MiB parts."""
    spec = node_spec("snapbig-0001")
    spec.max_memory_mb = 128
    start(agent, coordinator, spec)
    pipe = client(spec).pipeline(transaction=False)
    for i in range(BIG_MB * 16):
        pipe.set(f"big:{i}", os.urandom(64 * 1024))
    pipe.execute()
    return spec


def test_a_multipart_snapshot_of_real_redis_lists_and_restores(agent, coordinator, big_source, bucket, moto):
    name, store = bucket
    result = snapshot(agent, big_source, "big/s.rdb", timeout=60)
    assert result.size > BIG_MB << 20 and result.size > 4 * (6 << 20)
    rdb = agent.state.data_dir(big_source.node_key) / "dump.rdb"
    assert result.sha256 == sha_file(rdb)
    assert [(o.key, o.size, o.sha256) for o in store.list("big/")] == [("big/s.rdb", result.size, result.sha256)]
    assert "-" in moto.client().head_object(Bucket=name, Key="snapshots/big/s.rdb")["ETag"]   # multipart
    target = node_spec("snapbigr-0001")
    target.max_memory_mb = 128
    restore(agent, target.node_key, "big/s.rdb", sha256=result.sha256)
    start(agent, coordinator, target)
    restored, original = client(target), client(big_source)
    wait_until(lambda: restored.dbsize() == BIG_MB * 16, 20)
    assert restored.get("big:7") == original.get("big:7")


def test_an_upload_cut_midway_fails_and_leaves_no_object_nor_upload(agent, big_source, bucket, moto, moto_proxy):
    name, _ = bucket
    moto_proxy.cut_after(8 << 20)   # the first 6 MiB part goes through, the second is cut
    try:
        with pytest.raises(grpc.RpcError) as caught:
            snapshot(agent, big_source, "cut/s.rdb", timeout=120, store="cut")
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "upload to s3://" in caught.value.details(), caught.value.details()
    finally:
        moto_proxy.heal()     # reachable again: the agent's retried abort gets through
    s3 = moto.client()
    wait_until(lambda: not s3.list_multipart_uploads(Bucket=name, Prefix="cut-store/cut/").get("Uploads"), 30)
    assert not s3.list_objects_v2(Bucket=name, Prefix="cut-store/cut/").get("Contents")
