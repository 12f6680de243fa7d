"""Two coordinator processes on one etcd: one leads, the other follows: it answers reads with
the leader's state and names the leader for the rest, so the CLI given both (follower first)
lands its create on the leader; describe-coordinators lists both, the leader marked. The leader
frozen, the follower takes over with the state the first recorded, and the agent given both
moves on to it; the first, thawed, finds itself deposed and exits without acting. Then
`state-store copy` takes the state to SQLite."""
import asyncio
import json
import os
import shutil
import signal
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


def _cli_json(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _created(fleet, name) -> bool:
    try:
        _create(fleet, name)
        return True
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error   # NotLeader until it leads
        return False


def test_a_follower_serves_reads_sends_writes_to_the_leader_and_replaces_it_when_it_freezes(etcd, tmp_path, capsys):
    spec = f"etcd://{etcd.endpoint}/{uuid.uuid4().hex}"
    a = _coordinator(tmp_path / "a", "a", spec, etcd, hosts=1)
    shutil.copytree(a.ca.root, tmp_path / "b" / "ca")   # one fleet CA: the same clients and agents
    b = _coordinator(tmp_path / "b", "b", spec, etcd)
    a.hosts[0].coordinator_endpoint = f"{a.endpoint},{b.endpoint}"
    try:
        a.start()
        _create(a, "by-a")
        assert not (a.state_dir / "coordinator.db").exists(), "on etcd, nothing goes to the SQLite file"
        b.start_coordinator()   # a follower listens at once
        wait_for(lambda: "following a, the leader" in (b.base / "coordinator.log").read_text(), 10,
                 what="b to follow a")
        assert "by-a" in _groups(b), "a follower answers reads with the leader's state"
        with pytest.raises(grpc.RpcError) as refused:
            _create(b, "refused-by-b")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == f"NotLeader: b does not lead; the leader is a at {a.endpoint}."
        assert ("cachefleet-leader", a.endpoint) in tuple(refused.value.trailing_metadata())
        _cli_json(capsys, "create-cache-parameter-group", "--cache-parameter-group-name", "by-cli",
                  "--cache-parameter-group-family", "redis7.0", "--description", "follower first",
                  "--endpoint", f"{b.endpoint},{a.endpoint}")
        assert {"by-cli"} <= _groups(a) and "refused-by-b" not in _groups(a)
        listed = _cli_json(capsys, "describe-coordinators", "--endpoint", b.endpoint)["Coordinators"]
        assert [(c["Name"], c["Endpoint"], c["Leader"]) for c in listed] == [
            ("a", a.endpoint, True), ("b", b.endpoint, False)]
        assert "LeaderSince" in listed[0] and "LeaderSince" not in listed[1]
        assert "Started" in listed[0] and "Started" in listed[1]

        os.kill(a.coordinator.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        wait_for(lambda: _created(b, "by-b"), 15, what="b to take over")
        took_over = time.monotonic() - frozen
        assert took_over < 8, f"b answered {took_over:.1f}s after a froze"
        assert "by-a" in _groups(b)
        wait_for(lambda: [(h.host_id, h.status) for h in b.describe_hosts()] == [("host1", "available")], 10,
                 what="the agent to report to b")
        assert not [event for event in b.events("host1") if "lost" in event], \
            "the change of leader is not the host's silence"

        os.kill(a.coordinator.pid, signal.SIGCONT)
        assert a.coordinator.wait(10) == EXIT_DEPOSED
        assert "lost the leadership" in (a.base / "coordinator.log").read_text()
        assert {"by-a", "by-b"} <= _groups(b)
        wait_for(lambda: [(c["Name"], c["Leader"]) for c in _cli_json(
            capsys, "describe-coordinators", "--endpoint", b.endpoint)["Coordinators"]] == [("b", True)], 5,
            what="the deposed leader to leave describe-coordinators")
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
