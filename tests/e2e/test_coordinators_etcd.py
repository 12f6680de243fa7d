"""Two coordinator processes on one etcd: one leads and serves, the other waits; the leader
frozen, the other takes over with the state the first recorded, and the agent given both moves
on to it; the first, thawed, finds itself deposed and exits without acting; the CLI given both
finds the one that serves. Then `state-store copy` takes the state to SQLite."""
import asyncio
import json
import os
import shutil
import signal
import threading
import time
import uuid

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.cli import main as cli
from coordinator.main import EXIT_DEPOSED
from coordinator.state.store import SqliteStore
from tests.helpers.fleet import Fleet, wait_for


def _coordinator(base, name, spec, etcd, hosts=0):
    tls = [str(etcd.tls.ca), str(etcd.tls.cert), str(etcd.tls.key)]
    return Fleet(base, hosts=hosts, coordinator_args=[
        "--state-store", spec, "--state-store-ca-cert", tls[0], "--state-store-cert", tls[1],
        "--state-store-key", tls[2], "--name", name, "--lease", "0.7",
        "--leader-lease", "2", "--leader-renew-interval", "0.3", "--leader-retry-timeout", "0.5"])


def _groups(fleet):
    answer = fleet.stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5)
    return {group.cache_parameter_group_name for group in answer.cache_parameter_groups}


def _create(fleet, name):
    fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name=name, cache_parameter_group_family="redis7.0", description="in etcd"), timeout=5)


def test_a_frozen_leader_is_replaced_by_the_standby_and_finds_itself_deposed(etcd, tmp_path, capsys):
    spec = f"etcd://{etcd.endpoint}/{uuid.uuid4().hex}"
    a = _coordinator(tmp_path / "a", "a", spec, etcd, hosts=1)
    shutil.copytree(a.ca.root, tmp_path / "b" / "ca")   # one fleet CA: the same clients and agents
    b = _coordinator(tmp_path / "b", "b", spec, etcd)
    a.hosts[0].coordinator_endpoint = f"{a.endpoint},{b.endpoint}"
    try:
        a.start()
        _create(a, "by-a")
        assert not (a.state_dir / "coordinator.db").exists(), "on etcd, nothing goes to the SQLite file"
        started = threading.Thread(target=b.start_coordinator, daemon=True)
        started.start()
        wait_for(lambda: "following a, the leader" in (b.base / "coordinator.log").read_text(), 10,
                 what="b to follow a")
        with pytest.raises(grpc.RpcError):   # a standby does not serve
            b.stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=0.5)

        os.kill(a.coordinator.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        started.join(15)
        took_over = time.monotonic() - frozen
        assert not started.is_alive(), "b did not take over"
        assert took_over < 8, f"b answered {took_over:.1f}s after a froze"
        assert "by-a" in _groups(b)
        _create(b, "by-b")
        wait_for(lambda: [(h.host_id, h.status) for h in b.describe_hosts()] == [("host1", "available")], 10,
                 what="the agent to report to b")
        assert not [event for event in b.events("host1") if "lost" in event], \
            "the change of leader is not the host's silence"

        os.kill(a.coordinator.pid, signal.SIGCONT)
        assert a.coordinator.wait(10) == EXIT_DEPOSED
        assert "lost the leadership" in (a.base / "coordinator.log").read_text()
        assert {"by-a", "by-b"} <= _groups(b)
        assert cli.main(["describe-cache-parameter-groups", "--endpoint", f"{a.endpoint},{b.endpoint}",
                         "--query", "CacheParameterGroups[].CacheParameterGroupName"]) == 0
        assert {"by-a", "by-b"} <= set(json.loads(capsys.readouterr().out))
    finally:
        for fleet in (a, b):
            if fleet.coordinator is not None and fleet.coordinator.poll() is None:
                os.kill(fleet.coordinator.pid, signal.SIGCONT)
            fleet.discard()

    tls = ["--ca-cert", str(etcd.tls.ca), "--cert", str(etcd.tls.cert), "--key", str(etcd.tls.key)]
    copy = tmp_path / "copy.db"
    assert cli.main(["state-store", "copy", spec, f"sqlite:{copy}", *tls]) == 0
    copied = json.loads(capsys.readouterr().out)["Copied"]

    async def read():
        store = SqliteStore(copy)
        records = await store.list("")
        await store.close()
        return records
    records = asyncio.run(read())
    assert len(records) == copied
    assert {"paramgroups/by-a", "paramgroups/by-b"} <= {record.key for record in records}
