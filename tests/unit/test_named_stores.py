"""Named object stores as a daemon's flags declare them, and the credentials files they read."""
from __future__ import annotations

import argparse
import json

import pytest

from cachefleet.common.objectstore import ObjectStoreError
from cachefleet.common.objectstore.base import check_key
from cachefleet.common.objectstore.named import StoreConfig, add_arguments, configs_from_arguments, read_credentials


def configs(*argv: str) -> dict[str, StoreConfig]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return configs_from_arguments(parser.parse_args(list(argv)))


def test_each_store_takes_its_own_endpoint_region_and_credentials_file():
    found = configs("--store", "default=s3://bucket/fleet", "--store-endpoint", "default=http://10.0.0.60:9000",
                    "--store-region", "default=us-east-1", "--store-credentials", "default=/etc/cachefleet/s3",
                    "--store", "local=/var/lib/cachefleet/snapshots")
    assert found["default"] == StoreConfig("default", "s3://bucket/fleet", "http://10.0.0.60:9000", "us-east-1",
                                           "/etc/cachefleet/s3")
    assert found["local"].url == "file:///var/lib/cachefleet/snapshots"
    assert found["default"].location() == "s3://bucket/fleet at http://10.0.0.60:9000"


@pytest.mark.parametrize("argv, says", [
    (["--store", "default"], "NAME=VALUE"),
    (["--store", "Default=/x"], "not lower-case"),
    (["--store", "a=/x", "--store", "a=/y"], "twice"),
    (["--store-endpoint", "a=http://x"], "no --store declares"),
    (["--store", "a=/x", "--store-credentials", "a=/c"], "only an s3:// store"),
    (["--store", "a=relative/dir"], "absolute"),
    (["--store", "a=/srv/../etc"], "'..'"),
    (["--store", "a=s3://b/p?x=1"], "s3://bucket"),
    (["--store", "a=https://example.com/x"], "neither"),
])
def test_store_flags_that_name_no_clear_store_are_refused(argv, says):
    with pytest.raises(ValueError, match=says.replace("?", r"\?")):
        configs(*argv)


def test_credentials_come_from_a_shared_credentials_file_or_json(tmp_path):
    ini = tmp_path / "ini"
    ini.write_text("[default]\naws_access_key_id = AK\naws_secret_access_key = SK\naws_session_token = T\n")
    assert read_credentials(str(ini)) == {"access_key": "AK", "secret_key": "SK", "session_token": "T"}
    doc = tmp_path / "json"
    doc.write_text(json.dumps({"AccessKeyId": "AK", "SecretAccessKey": "SK"}))
    assert read_credentials(str(doc)) == {"access_key": "AK", "secret_key": "SK"}


@pytest.mark.parametrize("text", ["[other]\naws_access_key_id = AK\naws_secret_access_key = SK\n",
                                  '{"AccessKeyId": "AK"}', "{not json", "[default]\naws_access_key_id = AK\n"])
def test_a_credentials_file_without_a_key_pair_is_refused_without_showing_it(tmp_path, text):
    path = tmp_path / "creds"
    path.write_text(text)
    with pytest.raises(ObjectStoreError) as err:
        read_credentials(str(path))
    assert "AK" not in str(err.value)
    with pytest.raises(ObjectStoreError, match="cannot read"):
        read_credentials(str(tmp_path / "missing"))


@pytest.mark.parametrize("key", ["../x.rdb", "a/../x.rdb", "x.rdb\n", "/x.rdb", "a//x.rdb", "x/", ".x", "a/./b",
                                 "a\nb", "a b", "x" * 901, "a..b", "k.rdb.manifest.json", ""])
def test_keys_are_matched_whole_against_a_strict_pattern(key):
    with pytest.raises(ObjectStoreError):
        check_key(key)


@pytest.mark.parametrize("key", ["s1/c1-0001.rdb", "automatic.c1-2026-01-02-03-04/c1-0001.rdb", "exports/dump.rdb",
                                 "A_b-1.rdb"])
def test_the_keys_snapshots_use_pass(key):
    assert check_key(key) == key


@pytest.mark.parametrize("name, stores, says", [
    ("s3://bucket/fleet", {}, "not a URL"),
    ("default", {"other": StoreConfig("other", "s3://b/p")}, "none of the stores"),
])
def test_the_coordinator_refuses_a_snapshot_store_it_cannot_name_to_agents(name, stores, says):
    from coordinator.server import CoordinatorConfig
    with pytest.raises(ValueError, match=says):
        CoordinatorConfig(snapshot_store=name, stores=stores).check()
