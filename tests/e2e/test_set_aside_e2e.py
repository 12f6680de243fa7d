"""A standalone redis node whose host was away long enough to be re-created elsewhere: when the
host comes back, the data of its old engine is set aside on that host, not deleted, and the
cluster's events say where."""
from __future__ import annotations

import os
import pathlib
import re
import signal

import pytest
import redis

from tests.helpers.clusters import create, endpoint_of
from tests.helpers.fleet import Fleet, wait_for

REPLACE_AFTER_S = 1.0


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=2, coordinator_args=["--standalone-replace-after", str(REPLACE_AFTER_S)]).start()
    yield f
    f.discard()


def test_the_old_data_of_a_standalone_node_recreated_elsewhere_is_set_aside_when_its_host_comes_back(fleet):
    create(fleet, "solo", engine="redis")
    cluster = fleet.wait_status("solo", "available")
    (node,) = cluster.cache_nodes
    client = redis.Redis(*endpoint_of(fleet, cluster, "0001"), socket_timeout=2)
    for i in range(100):
        client.set(f"k{i}", i)
    client.save()            # what the old host holds on disk
    client.close()
    old = next(h for h in fleet.hosts if h.host_id == node.host_id)
    new = next(h for h in fleet.hosts if h is not old)

    os.kill(old.proc.pid, signal.SIGSTOP)
    try:
        moved = wait_for(lambda: next((c for c in [fleet.cluster("solo")]
                                       if c.cache_nodes[0].host_id == new.host_id
                                       and c.cache_nodes[0].cache_node_status == "available"), None),
                         20, what="the node re-created on the other host")
        assert moved.cache_nodes[0].host_id == new.host_id
        assert any(m.startswith("Cache node 0001 re-created empty") for m in fleet.events("solo"))
    finally:
        os.kill(old.proc.pid, signal.SIGCONT)

    pattern = re.compile(rf"Data of cache node 0001 on host {old.host_id} set aside at (\S+) \(not deleted\): "
                         rf"the node was re-created on host {new.host_id} while its host was away")
    event = wait_for(lambda: next((m for m in fleet.events("solo") if pattern.fullmatch(m)), None), 20,
                     what="the set-aside event")
    kept = pathlib.Path(pattern.fullmatch(event).group(1))
    assert kept.parent == (old.state_dir / "set-aside").resolve()
    dump = (kept / "dump.rdb").read_bytes()
    assert b"k99" in dump
    assert not (old.state_dir / "data" / "solo-0001").exists()
