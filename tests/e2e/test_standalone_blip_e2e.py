"""A standalone redis node keeps its data through a blip of its host: its agent frozen past the
host timeout, the node is not re-created empty elsewhere, and every key is still there."""
from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from tests.helpers.clusters import a_reconcile_cycle_passes, create, endpoint_of
from tests.helpers.fleet import Fleet, wait_for


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=3).start()
    yield f
    f.discard()


def test_a_standalone_redis_node_whose_agent_froze_past_the_host_timeout_loses_no_key(fleet):
    create(fleet, "solo", engine="redis")
    cluster = fleet.wait_status("solo", "available")
    (node,) = cluster.cache_nodes
    address, port = endpoint_of(fleet, cluster, "0001")
    client = redis.Redis(host=address, port=port, socket_timeout=2)
    for i in range(200):
        client.set(f"k{i}", i)
    host = next(h for h in fleet.hosts if h.host_id == node.host_id)

    os.kill(host.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(5.0)   # the blip itself (5 s, over three host timeouts): its agent says nothing meanwhile
        assert any(m.startswith(f"Host {host.host_id} lost") for m in fleet.events(host.host_id))
    finally:
        os.kill(host.proc.pid, signal.SIGCONT)
    wait_for(lambda: any(h.host_id == host.host_id and h.status == "available" for h in fleet.describe_hosts()),
             10, what=f"{host.host_id} back")
    a_reconcile_cycle_passes(fleet, host=host)

    after = fleet.wait_status("solo", "available")
    assert [(n.cache_node_id, n.host_id) for n in after.cache_nodes] == [("0001", node.host_id)]
    assert endpoint_of(fleet, after, "0001") == (address, port)
    assert [client.get(f"k{i}") for i in range(200)] == [str(i).encode() for i in range(200)]
    assert not [m for m in fleet.events("solo") if "re-created" in m or "Recovering" in m]
