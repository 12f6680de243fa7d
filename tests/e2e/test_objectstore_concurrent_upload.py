"""S3Store with parts in flight while the next is read (upload_concurrency >= 1, as the
agent's snapshots use it), against moto's standalone S3 server."""
from __future__ import annotations

import pytest

from cachefleet.common.objectstore import ObjectStoreError
from tests.helpers.moto import s3_store as _s3_store
from tests.helpers.streams import MIB, Boom, chunks_of, failing_after, sha_of


@pytest.mark.parametrize("concurrency", [1, 3])
def test_parts_sent_concurrently_arrive_whole_and_in_order(moto, concurrency):
    store, bucket = _s3_store(moto, upload_concurrency=concurrency, part_size=5 * MIB)
    total = 23 * MIB + 777   # five parts, the last one short
    expected = sha_of(chunks_of(total, chunk=300 * 1024))
    info = store.put_stream("c.rdb", chunks_of(total, chunk=300 * 1024), {"source": "manual"})
    assert (info.sha256, info.size) == expected
    assert sha_of(store.get_stream("c.rdb")) == expected
    assert moto.client().head_object(Bucket=bucket, Key="snapshots/cluster-1/c.rdb")["ETag"].endswith('-5"')


def test_a_source_failing_with_parts_in_flight_leaves_nothing(moto):
    store, bucket = _s3_store(moto, upload_concurrency=2, part_size=5 * MIB)
    with pytest.raises(Boom):
        store.put_stream("broken.rdb", failing_after(18 * MIB), {})
    assert store.list("") == [] and store.head("broken.rdb") is None
    client = moto.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_upload_concurrency_is_bounded(moto):
    with pytest.raises(ObjectStoreError, match="upload_concurrency"):
        _s3_store(moto, upload_concurrency=17)
