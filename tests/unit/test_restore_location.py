"""Which RDB objects a restore (SnapshotArns) may name: only what the snapshot store may read."""
import pytest

from coordinator.domain.errors import ApiError
from coordinator.snapshots.storage import restore_location

LOCAL = "file:///var/lib/cachefleet/snapshots"


@pytest.mark.parametrize("arn, key", [
    ("local://exports/dump.rdb", "exports/dump.rdb"),
    ("file:///var/lib/cachefleet/snapshots/exports/dump.rdb", "exports/dump.rdb"),
])
def test_a_local_store_takes_a_path_inside_it(arn, key):
    assert restore_location(LOCAL, arn) == key


@pytest.mark.parametrize("arn", ["local://../etc/passwd", "local:///etc/passwd", "local://", "file:///etc/passwd",
                                 "s3://bucket/dump.rdb", "/var/lib/cachefleet/snapshots/dump.rdb"])
def test_a_local_store_refuses_anything_else_and_names_the_form_that_works(arn):
    with pytest.raises(ApiError) as err:
        restore_location(LOCAL, arn)
    assert err.value.code == "InvalidParameterValue"
    assert "local://path/file.rdb" in err.value.message


@pytest.mark.parametrize("arn", ["s3://b/prefix/exports/dump.rdb", "arn:aws:s3:::b/prefix/exports/dump.rdb"])
def test_an_s3_store_takes_objects_under_its_own_bucket_and_prefix(arn):
    assert restore_location("s3://b/prefix", arn) == "exports/dump.rdb"


@pytest.mark.parametrize("arn", ["s3://my-bucket/exports/dump.rdb", "s3://b/exports/dump.rdb", "s3://b/prefixx/d.rdb",
                                 "s3://b/prefix/../d.rdb", "s3://b/prefix/", "arn:aws:s3:::b/other/d.rdb",
                                 "local://exports/dump.rdb", "s3://b/prefix/d.rdb?versionId=1"])
def test_an_s3_store_refuses_any_other_object(arn):
    """Agents read only from their own store of that name: another bucket is not theirs to read."""
    with pytest.raises(ApiError) as err:
        restore_location("s3://b/prefix", arn)
    assert err.value.code == "InvalidParameterValue" and "s3://b/prefix/path/file.rdb" in err.value.message
