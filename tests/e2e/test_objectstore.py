"""Object-store contract, run against moto's standalone S3 server (a real process on
loopback, spoken to through boto3 exactly as S3) and against the local-directory store."""
from __future__ import annotations

import hashlib
import threading
import time
import tracemalloc

import pytest

from cachefleet.common.objectstore import MANIFEST_SUFFIX, ObjectStore, ObjectStoreError, make_store
from cachefleet.common.objectstore.localdir import LocalDirStore
from cachefleet.common.objectstore.s3 import S3Store
from tests.helpers.moto import CREDS, MotoServer, s3_store as _s3_store
from tests.helpers.streams import MIB, Boom, chunks_of, failing_after, sha_of


@pytest.fixture(params=["s3", "localdir"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "s3":
        return _s3_store(request.getfixturevalue("moto"))[0]
    return make_store(f"file://{tmp_path}/objects")


# -- contract, both backends ----------------------------------------------------------------

def upload_peak(store: ObjectStore, key: str, total: int) -> tuple[int, object]:
    tracemalloc.start()
    try:
        info = store.put_stream(key, chunks_of(total), {"engine-version": "7.2.4", "source": "manual"})
        return tracemalloc.get_traced_memory()[1], info
    finally:
        tracemalloc.stop()


# The S3 upload holds one part (8 MiB by default) plus botocore's fixed signing/sending buffers.
S3_MEMORY_BOUND = 8 * MIB + 4 * MIB


def test_round_trip_20mib_streamed_with_bounded_memory(store):
    total = 20 * MIB + 12345
    expected_sha, _ = sha_of(chunks_of(total))
    peak, info = upload_peak(store, "rdb/snap-1.rdb", total)
    bound = S3_MEMORY_BOUND if isinstance(store, S3Store) else 2 * MIB
    assert peak < bound, f"peak {peak / MIB:.1f} MiB while uploading {total / MIB:.1f} MiB"
    assert info.size == total and info.sha256 == expected_sha
    assert info.metadata == {"engine-version": "7.2.4", "source": "manual"}
    got_sha, got_size = sha_of(store.get_stream("rdb/snap-1.rdb", chunk_size=MIB))
    assert (got_sha, got_size) == (expected_sha, total)


def test_s3_upload_memory_does_not_grow_with_object_size(moto):
    store, _ = _s3_store(moto)
    peak, info = upload_peak(store, "big.rdb", 48 * MIB)
    assert info.size == 48 * MIB
    assert peak < S3_MEMORY_BOUND, f"peak {peak / MIB:.1f} MiB for a 48 MiB object"


@pytest.mark.parametrize("concurrency", [0, 3])
def test_put_file_multipart_from_the_file_round_trips_with_bounded_memory(moto, tmp_path, concurrency):
    """A file's parts are read from it as they are sent (several at once), from where it stands."""
    store, _ = _s3_store(moto, part_size=5 * MIB, upload_concurrency=concurrency)
    path = tmp_path / "dump.rdb"
    with path.open("wb") as out:
        for chunk in chunks_of(17 * MIB + 321):
            out.write(chunk)
    with path.open("rb") as handle:
        handle.seek(321)
        tracemalloc.start()
        try:
            info = store.put_file("rdb/file.rdb", handle, {"source": "file"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    expected = hashlib.sha256(path.read_bytes()[321:]).hexdigest()
    assert (info.size, info.sha256, info.metadata) == (17 * MIB, expected, {"source": "file"})
    assert sha_of(store.get_stream("rdb/file.rdb", chunk_size=MIB)) == (expected, 17 * MIB)
    assert peak < S3_MEMORY_BOUND, f"peak {peak / MIB:.1f} MiB for a 17 MiB file"


def test_list_head_delete_and_metadata(store):
    assert store.head("a/one") is None
    assert store.list("") == []
    one = store.put_stream("a/one", [b"hello ", b"world"], {"kind": "manual"})
    store.put_stream("a/two", iter([b""]), {})
    store.put_stream("b/three", [b"x" * 1000], {"node-type": "cache.t3.micro"})
    assert one.sha256 == hashlib.sha256(b"hello world").hexdigest() and one.size == 11
    assert one.last_modified is not None
    assert [i.key for i in store.list("")] == ["a/one", "a/two", "b/three"]
    assert [i.key for i in store.list("a/")] == ["a/one", "a/two"]
    listed = {i.key: i for i in store.list("")}
    assert listed["b/three"].metadata == {"node-type": "cache.t3.micro"}
    assert listed["a/two"].size == 0 and listed["a/two"].sha256 == hashlib.sha256(b"").hexdigest()
    head = store.head("a/one")
    assert head.metadata == {"kind": "manual"} and head.size == 11 and head.sha256 == one.sha256
    assert b"".join(store.get_stream("a/one", chunk_size=4)) == b"hello world"
    store.delete("a/one")
    store.delete("a/one")  # idempotent
    store.delete("never/was")
    assert store.head("a/one") is None
    assert [i.key for i in store.list("")] == ["a/two", "b/three"]
    with pytest.raises(ObjectStoreError, match="no object"):
        store.get_stream("a/one")


def test_overwrite_replaces_data_and_metadata(store):
    store.put_stream("k", [b"old"], {"v": "1"})
    info = store.put_stream("k", [b"newer"], {"v": "2"})
    assert (info.size, info.metadata) == (5, {"v": "2"})
    assert b"".join(store.get_stream("k")) == b"newer"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "dir/", "x" + MANIFEST_SUFFIX])
def test_bad_keys_refused(store, key):
    with pytest.raises(ObjectStoreError):
        store.put_stream(key, [b"x"], {})


def test_bad_metadata_refused(store):
    with pytest.raises(ObjectStoreError, match="metadata"):
        store.put_stream("k", [b"x"], {"Upper": "x"})
    with pytest.raises(ObjectStoreError, match="metadata"):
        store.put_stream("k", [b"x"], {"k": "caf\u00e9"})
    assert store.list("") == []


def test_source_failure_midway_leaves_nothing(store):
    with pytest.raises(Boom):
        store.put_stream("rdb/broken.rdb", failing_after(18 * MIB), {"source": "manual"})
    assert store.list("") == []
    assert store.head("rdb/broken.rdb") is None
    if isinstance(store, S3Store):
        client = store.client
        assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
        assert client.list_objects_v2(Bucket=store.bucket).get("KeyCount", 0) == 0
    else:
        assert isinstance(store, LocalDirStore)
        assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_small_object_failure_leaves_nothing(store):
    with pytest.raises(Boom):
        store.put_stream("small", failing_after(1000), {})
    assert store.list("") == [] and store.head("small") is None


def test_async_wrappers(store):
    import asyncio

    async def go():
        info = await store.aput_stream("x/y", [b"abc"], {"m": "1"})
        assert (await store.ahead("x/y")) == info
        assert [i.key for i in await store.alist("x/")] == ["x/y"]
        await store.adelete("x/y")
        assert await store.ahead("x/y") is None

    asyncio.run(go())


# -- S3 specifics ----------------------------------------------------------------------------

def test_s3_keys_live_under_prefix_and_use_multipart(moto):
    store, bucket = _s3_store(moto)
    store.put_stream("snap.rdb", chunks_of(17 * MIB), {})
    keys = sorted(o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["snapshots/cluster-1/snap.rdb", "snapshots/cluster-1/snap.rdb" + MANIFEST_SUFFIX]
    etag = moto.client().head_object(Bucket=bucket, Key=keys[0])["ETag"]
    assert etag.strip('"').endswith("-3"), etag  # 8 + 8 + 1 MiB parts


def test_s3_reads_foreign_object_without_manifest(moto):
    """A user's own RDB in S3 (SnapshotArns) can be streamed, though it is not a listed snapshot."""
    store, bucket = _s3_store(moto)
    moto.client().put_object(Bucket=bucket, Key="snapshots/cluster-1/user.rdb", Body=b"REDIS0011")
    assert b"".join(store.get_stream("user.rdb")) == b"REDIS0011"
    assert store.head("user.rdb") is None and store.list("") == []


def test_s3_missing_bucket_is_objectstoreerror(moto):
    store = make_store("s3://no-such-bucket-here/p", endpoint_url=moto.endpoint, max_attempts=1, **CREDS)
    with pytest.raises(ObjectStoreError, match="no-such-bucket-here"):
        store.list("")
    with pytest.raises(ObjectStoreError):
        store.put_stream("k", [b"x"], {})


def test_part_size_floor_and_url_parsing(tmp_path):
    with pytest.raises(ObjectStoreError, match="part size"):
        make_store("s3://b/p", part_size=MIB)
    with pytest.raises(ObjectStoreError, match="unsupported"):
        make_store("gs://b/p")
    with pytest.raises(ObjectStoreError, match="no bucket"):
        make_store("s3:///p")
    s3 = make_store("s3://bkt/a/b/", **CREDS)
    assert (s3.bucket, s3.prefix) == ("bkt", "a/b/")
    assert make_store("s3://bkt", **CREDS).prefix == ""
    assert make_store(str(tmp_path / "d")).root == tmp_path / "d"
    assert make_store(f"file://{tmp_path}/e").root == tmp_path / "e"


def test_s3_server_killed_mid_upload(tmp_path):
    server = MotoServer(tmp_path)
    server.start()
    try:
        store, bucket = _s3_store(server)
        parts_sent = threading.Event()

        def source():
            yield from chunks_of(17 * MIB)   # two full parts go out
            parts_sent.set()
            server.stop()                    # the server dies with the upload in flight
            yield from chunks_of(9 * MIB)

        started = time.monotonic()
        with pytest.raises(ObjectStoreError, match="upload of 'dead.rdb'"):
            store.put_stream("dead.rdb", source(), {})
        assert parts_sent.is_set() and time.monotonic() - started < 20
        with pytest.raises(ObjectStoreError):
            store.list("")                   # still down: a clear error, not a hang
        server.start()                       # back, on the same port (in-memory state is gone)
        server.client().create_bucket(Bucket=bucket)
        assert store.list("") == []
        assert store.head("dead.rdb") is None
        assert server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        server.stop()


# -- local directory specifics ---------------------------------------------------------------

def test_localdir_leaves_no_temp_files_and_survives_stray_data(tmp_path):
    store = make_store(str(tmp_path / "objs"))
    store.put_stream("a/b.rdb", chunks_of(3 * MIB), {"x": "y"})
    (tmp_path / "objs" / "a" / "orphan.rdb").write_bytes(b"no manifest")   # crash between the two renames
    names = sorted(p.relative_to(tmp_path / "objs").as_posix() for p in (tmp_path / "objs").rglob("*"))
    assert names == ["a", "a/b.rdb", "a/b.rdb" + MANIFEST_SUFFIX, "a/orphan.rdb"]
    assert [i.key for i in store.list("")] == ["a/b.rdb"]
    assert store.head("a/orphan.rdb") is None


def test_localdir_disk_error_is_objectstoreerror(tmp_path):
    root = tmp_path / "ro"
    store = make_store(str(root))
    (root / "a").write_bytes(b"a file where a directory is wanted")
    with pytest.raises(ObjectStoreError, match="write of 'a/b'"):
        store.put_stream("a/b", [b"x"], {})
