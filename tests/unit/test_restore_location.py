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
    assert restore_location(LOCAL, arn) == (LOCAL, key)


@pytest.mark.parametrize("arn", ["local://../etc/passwd", "local:///etc/passwd", "local://", "file:///etc/passwd",
                                 "s3://bucket/dump.rdb", "/var/lib/cachefleet/snapshots/dump.rdb"])
def test_a_local_store_refuses_anything_else_and_names_the_form_that_works(arn):
    with pytest.raises(ApiError) as err:
        restore_location(LOCAL, arn)
    assert err.value.code == "InvalidParameterValue"
    assert "local://path/file.rdb" in err.value.message


def test_an_s3_store_takes_s3_names():
    assert restore_location("s3://b/prefix", "s3://my-bucket/exports/dump.rdb") == ("s3://my-bucket", "exports/dump.rdb")
    with pytest.raises(ApiError):
        restore_location("s3://b/prefix", "local://exports/dump.rdb")
