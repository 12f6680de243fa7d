"""Agents refuse a deposed leader: the decision (admit), the epoch kept on disk across an agent
restart, and a real agent servicer behind the gate, called through the coordinator's own agent
clients, that refuses a call with an old epoch and changes nothing."""
from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from cachefleet.common.leader_epoch import METADATA
from coordinator.reconcile.agents import AgentClients
from nodeagent.discovery import DiscoveryServer
from nodeagent.epoch import EpochBook, StaleLeaderGate, admit, sent_epoch
from nodeagent.service import NodeAgentService
from tests.helpers.fleet import free_port
from tests.unit.test_discovery import PAYLOAD, endpoint, exchange


def test_an_epoch_lower_than_one_seen_is_refused_and_changes_nothing():
    verdict = admit(seen=9, sent=5)
    assert not verdict.accepted and verdict.seen == 9
    assert "deposed" in verdict.why


def test_the_same_or_a_higher_epoch_is_accepted_and_a_higher_one_remembered():
    assert admit(seen=9, sent=9).accepted and admit(seen=9, sent=9).seen == 9
    higher = admit(seen=9, sent=12)
    assert higher.accepted and higher.seen == 12


def test_a_call_without_an_epoch_is_accepted_only_before_any_epoch_was_seen():
    assert admit(seen=0, sent=0).accepted, "a fleet on SQLite never has an epoch"
    refused = admit(seen=3, sent=0)
    assert not refused.accepted and refused.seen == 3


def test_the_epoch_is_read_from_the_call_metadata():
    assert sent_epoch(None) == 0
    assert sent_epoch([("other", "x")]) == 0
    assert sent_epoch([(METADATA, "42")]) == 42
    for bad in ("-1", "4x", ""):
        with pytest.raises(ValueError):
            sent_epoch([(METADATA, bad)])


def test_the_highest_epoch_survives_an_agent_restart(tmp_path):
    path = tmp_path / "leader-epoch.json"
    book = EpochBook(path)
    book.load()
    assert book.admit(0).accepted and not path.exists(), "nothing to keep before an epoch is seen"
    assert book.admit(7).accepted
    assert not book.admit(5).accepted
    restarted = EpochBook(path)
    restarted.load()
    assert restarted.seen == 7
    assert not restarted.admit(5).accepted and not restarted.admit(0).accepted
    assert json.loads(path.read_text()) == {"leader_epoch": 7}


def test_an_unreadable_epoch_file_is_not_taken_for_an_epoch(tmp_path):
    path = tmp_path / "leader-epoch.json"
    path.write_text("{not json")
    book = EpochBook(path)
    book.load()
    assert book.seen == 0 and path.read_text() == "{not json"


def test_the_agent_refuses_a_deposed_leaders_call_and_keeps_what_the_leader_set(tmp_path):
    async def scenario():
        book = EpochBook(tmp_path / "leader-epoch.json")
        discovery = DiscoveryServer(tmp_path / "discovery.json")
        server = grpc.aio.server(interceptors=[StaleLeaderGate(book)])
        agent_grpc.add_NodeAgentServicer_to_server(NodeAgentService(None, agent_pb.HostInfo(), discovery), server)
        at = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        leader, deposed = AgentClients(epoch=lambda: 9), AgentClients(epoch=lambda: 5)
        try:
            port = free_port("127.0.0.1")
            await leader.set_discovery(at, agent_pb.SetDiscoveryRequest(endpoints=[endpoint("127.0.0.1", port)]))
            kept = (tmp_path / "discovery.json").read_text()
            # the deposed leader's late call would stop every listener: refused
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await deposed.set_discovery(at, agent_pb.SetDiscoveryRequest())
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert refused.value.details().startswith("StaleLeader: leader epoch 5 is older than epoch 9")
            # and so is a call that carries no epoch at all, now that one was seen
            async with grpc.aio.insecure_channel(at) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as unmarked:
                    await agent_grpc.NodeAgentStub(channel).SetDiscovery(agent_pb.SetDiscoveryRequest(), timeout=5)
                # reads are answered whatever the epoch; a higher one on any call is remembered
                stub = agent_grpc.NodeAgentStub(channel)
                await stub.GetHostInfo(agent_pb.GetHostInfoRequest(), timeout=5, metadata=((METADATA, "5"),))
                await stub.GetHostInfo(agent_pb.GetHostInfoRequest(), timeout=5, metadata=((METADATA, "11"),))
            assert unmarked.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert book.seen == 11
            got = await asyncio.to_thread(exchange, "127.0.0.1", port, b"config get cluster\r\n", b"END\r\n")
            assert got == b"CONFIG cluster 0 84\r\n" + PAYLOAD + b"\r\nEND\r\n"
            assert (tmp_path / "discovery.json").read_text() == kept
            assert json.loads((tmp_path / "leader-epoch.json").read_text()) == {"leader_epoch": 11}
        finally:
            await leader.close()
            await deposed.close()
            await discovery.close()
            await server.stop(0)
    asyncio.run(scenario())


def test_an_epoch_that_cannot_be_kept_is_not_taken(tmp_path):
    book = EpochBook(tmp_path / "gone" / "leader-epoch.json")
    with pytest.raises(OSError):
        book.admit(3)
    assert book.seen == 0
