"""A coordinator that does not lead answers the reads the store holds and names the leader for
everything else; the CLI given `FOLLOWER,LEADER` asks the follower, is sent on, and its call
lands on the leader; describe-coordinators lists who leads.

The leader here is a real coordinator on SQLite (in office from its start); the follower is a
second gRPC server of the same coordinator's servicers, so it reads the same store, behind the
gate a coordinator on etcd puts in front of them while it follows."""
from __future__ import annotations

import asyncio
import json
import socket
import threading

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from coordinator.api.leadership import LEADER_METADATA, LeaderGate, Leadership, needs_leader, refusal
from coordinator.cli import main as cli
from coordinator.domain.leadership import Member, roster
from coordinator.server import Coordinator, CoordinatorConfig


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


class Pair:
    """A leader (a real coordinator, SQLite) and a follower of it, on one event loop in a thread."""

    def __init__(self, tmp_path, leader_named: str | None = None) -> None:
        self.coordinator = Coordinator(CoordinatorConfig(listen="127.0.0.1:0", state_dir=str(tmp_path),
                                                         dns_backend="none", name="leader"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.leader = f"127.0.0.1:{self.run(self.coordinator.start())}"
        self.named = self.leader if leader_named is None else leader_named
        self.sent_on: list[str] = []   # the calls the follower's gate judged
        self.follower_server, self.follower = self.run(self._follower())

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(15)

    def view(self) -> Leadership:
        self.sent_on.append("judged")
        return Leadership("follower", False, "leader", self.named)

    async def _follower(self) -> tuple[grpc.aio.Server, str]:
        server = grpc.aio.server(interceptors=[LeaderGate(self.view)])
        self.coordinator.cache_control.add_to_server(server)
        agent_grpc.add_HostRegistryServicer_to_server(agent_grpc.HostRegistryServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, f"127.0.0.1:{port}"

    def close(self) -> None:
        self.run(self.follower_server.stop(None))
        self.run(self.coordinator.stop(grace=0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def plaintext(monkeypatch):
    monkeypatch.setenv("CACHEFLEET_INSECURE", "1")


@pytest.fixture
def pair(tmp_path, plaintext):
    built = Pair(tmp_path)
    yield built
    built.close()


def _create_group(name: str) -> list[str]:
    return ["create-cache-parameter-group", "--cache-parameter-group-name", name,
            "--cache-parameter-group-family", "redis7.0", "--description", "through a follower"]


def test_reads_of_the_store_are_answered_by_a_follower_and_the_rest_is_sent_to_the_leader():
    for read in ("DescribeCacheClusters", "DescribeReplicationGroups", "DescribeEvents", "DescribeCoordinators",
                 "DescribeCacheParameters", "ListAccessKeys", "DescribeAlarms"):
        assert not needs_leader(f"/cachefleet.v1.CacheControl/{read}"), read
    for leader_only in ("CreateCacheCluster", "DeleteSnapshot", "TestFailover", "ModifyUser", "CreateAccessKey",
                        "DescribeHosts", "DescribeCacheEngineVersions", "WatchEvents", "DescribeUsage"):
        assert needs_leader(f"/cachefleet.v1.CacheControl/{leader_only}"), leader_only
    for leader_only in ("/cachefleet.v1.CacheWatch/PutMetricAlarm", "/cachefleet.v1.CacheWatch/GetMetricStatistics",
                        "/cachefleet.v1.HostRegistry/Heartbeat", "/cachefleet.v1.HostMetrics/ReportMetrics"):
        assert needs_leader(leader_only), leader_only
    assert not needs_leader("/grpc.health.v1.Health/Check")


def test_a_follower_names_the_leader_and_says_so_when_none_is_known():
    create = "/cachefleet.v1.CacheControl/CreateCacheCluster"
    error = refusal(create, Leadership("b", False, "a", "10.0.0.1:7420"))
    assert error is not None and str(error) == "NotLeader: b does not lead; the leader is a at 10.0.0.1:7420."
    assert refusal("/cachefleet.v1.CacheControl/DescribeCacheClusters", Leadership("b", False, "a", "x:1")) is None
    assert refusal(create, Leadership("a", True, "a", "x:1")) is None
    election = refusal(create, Leadership("b", False))
    assert election is not None and election.code == "ServiceUnavailable" and "no coordinator leads" in str(election)
    starting = refusal(create, Leadership("a", False, "a", "x:1"))
    assert starting is not None and starting.code == "ServiceUnavailable"


def test_a_follower_answers_reads_with_the_leaders_state_and_refuses_writes_naming_the_leader(pair):
    with grpc.insecure_channel(pair.leader) as channel:
        pb_grpc.CacheControlStub(channel).CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="by-leader", cache_parameter_group_family="redis7.0", description="x"),
            timeout=5)
    with grpc.insecure_channel(pair.follower) as channel:
        stub = pb_grpc.CacheControlStub(channel)
        groups = stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5)
        assert "by-leader" in {g.cache_parameter_group_name for g in groups.cache_parameter_groups}
        assert pair.sent_on == [], "a read is answered without asking who leads"
        with pytest.raises(grpc.RpcError) as refused:
            stub.DeleteCacheParameterGroup(pb.DeleteCacheParameterGroupRequest(
                cache_parameter_group_name="by-leader"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == f"NotLeader: follower does not lead; the leader is leader at {pair.leader}."
        assert (LEADER_METADATA, pair.leader) in tuple(refused.value.trailing_metadata())
        with pytest.raises(grpc.RpcError) as heartbeat:
            agent_grpc.HostRegistryStub(channel).Heartbeat(agent_pb.HeartbeatRequest(), timeout=5)
        assert heartbeat.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert heartbeat.value.details().startswith("NotLeader: ")
    with grpc.insecure_channel(pair.leader) as channel:
        groups = pb_grpc.CacheControlStub(channel).DescribeCacheParameterGroups(
            pb.DescribeCacheParameterGroupsRequest(), timeout=5)
        assert "by-leader" in {g.cache_parameter_group_name for g in groups.cache_parameter_groups}, \
            "the refused delete changed nothing"


def test_the_cli_given_follower_first_is_sent_on_and_its_create_lands_on_the_leader(pair, capsys):
    endpoints = f"{pair.follower},{pair.leader}"
    assert cli.main([*_create_group("via-follower"), "--endpoint", endpoints]) == 0
    assert pair.sent_on == ["judged"], "the follower was asked first and sent the CLI on"
    capsys.readouterr()
    assert cli.main(["describe-cache-parameter-groups", "--cache-parameter-group-name", "via-follower",
                     "--endpoint", pair.follower, "--query", "CacheParameterGroups[].CacheParameterGroupName"]) == 0
    assert json.loads(capsys.readouterr().out) == ["via-follower"]


def test_the_cli_says_it_could_not_reach_the_leader_a_follower_named(tmp_path, plaintext, capsys):
    pair = Pair(tmp_path, leader_named=_closed_port())
    try:
        assert cli.main([*_create_group("nowhere"), "--endpoint", pair.follower, "--cli-read-timeout", "2"]) != 0
        assert "Could not connect" in capsys.readouterr().err
        assert pair.sent_on == ["judged"]
    finally:
        pair.close()


def test_describe_coordinators_on_sqlite_lists_the_one_coordinator_leading_since_its_start(pair, capsys):
    assert cli.main(["describe-coordinators", "--endpoint", pair.leader]) == 0
    [listed] = json.loads(capsys.readouterr().out)["Coordinators"]
    assert listed["Name"] == "leader" and listed["Leader"] is True
    assert listed["Endpoint"] == "127.0.0.1:0"   # what it was told to listen on: give --advertise
    assert listed["LeaderSince"] == listed["Started"]


def test_the_roster_lists_every_registered_coordinator_and_marks_the_leader():
    registered = [Member("b", "b:1", 20.0), Member("a", "a:1", 10.0), Member("c", "c:1", 30.0)]
    listed = roster(registered, Member("a", "a:1", leader=True, leader_since=15.0))
    assert [(m.name, m.leader, m.leader_since, m.started) for m in listed] == [
        ("a", True, 15.0, 10.0), ("b", False, None, 20.0), ("c", False, None, 30.0)]
    assert [m.name for m in roster(registered, None)] == ["a", "b", "c"]
    unregistered = roster([Member("b", "b:1", 20.0)], Member("a", "a:1", leader=True, leader_since=15.0))
    assert [(m.name, m.leader) for m in unregistered] == [("a", True), ("b", False)], "who leads is never left out"
