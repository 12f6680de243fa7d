"""The agent runs as root: the object store a snapshot or restore names is opened only where its
URL says, never one directory up through an escaped '..' (what the store then reads is the
unescaped path)."""
from __future__ import annotations

import pytest
from cachefleet.v1 import node_agent_pb2 as pb

from nodeagent.errors import InvalidArgument
from nodeagent.snapshots import open_store


@pytest.mark.parametrize("up", ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e."])
def test_a_store_url_that_climbs_out_is_refused_however_it_is_spelled(tmp_path, up):
    (tmp_path / "store").mkdir()
    with pytest.raises(InvalidArgument, match="'..' segment"):
        open_store(f"file://{tmp_path}/store/{up}/elsewhere", pb.ObjectStoreOptions(), "dump.rdb")


def test_a_plain_store_url_is_opened(tmp_path):
    assert open_store(f"file://{tmp_path}", pb.ObjectStoreOptions(), "dump.rdb") is not None
