"""An agent given several coordinators reports to the one that answers: a heartbeat that fails
sends the next one to the next coordinator of the list, and the write lease comes from whichever
answered. The coordinators here are simulated (in-process gRPC servers on port 0): one refuses
heartbeats as a coordinator that does not lead does; one answers as a deposed leader would."""
from __future__ import annotations

import asyncio
import socket

import grpc
import pytest

from cachefleet.common.tls.transport import Transport
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from nodeagent.coordinators import Coordinators, parse
from nodeagent.epoch import EpochBook
from nodeagent.heartbeat import Heartbeater
from nodeagent.lease import Lease


class SimulatedCoordinator(agent_grpc.HostRegistryServicer):
    """Answers heartbeats as a coordinator does: NotLeader when it does not lead; while it starts
    (`starting` heartbeats), ServiceUnavailable; then a lease."""

    def __init__(self, leads: bool, starting: int = 0, names: str = "", epoch: int = 0,
                 writable: tuple[str, ...] = ("c-0001",)) -> None:
        self.leads = leads
        self.epoch = epoch   # the leader epoch it answers with
        self.writable = writable
        self.starting = starting
        self.names = names   # the leader's endpoint a follower names in its answer
        self.heartbeats = 0

    async def Heartbeat(self, request, context):
        self.heartbeats += 1
        if not self.leads:
            metadata = (("cachefleet-leader", self.names),) if self.names else ()
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "NotLeader: This coordinator does not lead",
                                trailing_metadata=metadata)
        if self.heartbeats <= self.starting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ServiceUnavailable: The coordinator is starting")
        return agent_pb.HeartbeatResponse(heartbeat_interval_ms=50, lease_ms=1000, writable_primaries=self.writable,
                                          leader_epoch=self.epoch)


async def _serve(servicer) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    agent_grpc.add_HostRegistryServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _heartbeater(coordinators: Coordinators, lease: Lease, epochs: EpochBook | None = None) -> Heartbeater:
    """An agent's heartbeat loop for host h1, every 10 ms, into `lease`."""
    return Heartbeater(coordinators, agent_pb.HostInfo(host_id="h1"), list, asyncio.Event(), lease,
                       lambda: None, interval=0.01, epochs=epochs)


async def _stop(task: asyncio.Task, coordinators: Coordinators, *servers: grpc.aio.Server) -> None:
    """The heartbeat loop, its channels, then the simulated coordinators."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await coordinators.close()
    for server in servers:
        await server.stop(None)


async def _leased(lease: Lease) -> None:
    """Until a coordinator granted the first write lease (5 s at most)."""
    async with asyncio.timeout(5):
        while lease.until == 0.0:
            await asyncio.sleep(0.01)


def test_heartbeats_move_on_to_the_leader_and_wait_there_while_it_starts():
    async def scenario():
        standby, leader = SimulatedCoordinator(leads=False), SimulatedCoordinator(leads=True, starting=3)
        (standby_server, standby_at), (leader_server, leader_at) = await _serve(standby), await _serve(leader)
        coordinators = Coordinators([_closed_port(), standby_at, leader_at], Transport(None))
        lease = Lease(margin=0.1)
        task = asyncio.create_task(_heartbeater(coordinators, lease).run())
        try:
            await _leased(lease)
            assert coordinators.current == leader_at and standby.heartbeats == 1, \
                "a leader that is starting is asked again, not passed over"
            assert leader.heartbeats == 4
            assert lease.authorized == {"c-0001"}
            count = leader.heartbeats
            async with asyncio.timeout(5):
                while leader.heartbeats < count + 3:
                    await asyncio.sleep(0.01)
            assert coordinators.current == leader_at, "it stays with the coordinator that answers"
        finally:
            await _stop(task, coordinators, standby_server, leader_server)
    asyncio.run(scenario())


def test_a_follower_that_names_the_leader_sends_heartbeats_straight_to_it():
    async def scenario():
        leader = SimulatedCoordinator(leads=True)
        leader_server, leader_at = await _serve(leader)
        first, second = SimulatedCoordinator(leads=False, names=leader_at), SimulatedCoordinator(leads=False)
        (first_server, first_at), (second_server, second_at) = await _serve(first), await _serve(second)
        coordinators = Coordinators([first_at, second_at, leader_at], Transport(None))
        lease = Lease(margin=0.1)
        task = asyncio.create_task(_heartbeater(coordinators, lease).run())
        try:
            await _leased(lease)
            assert coordinators.current == leader_at
            assert (first.heartbeats, second.heartbeats) == (1, 0), "the follower between was not asked"
        finally:
            await _stop(task, coordinators, leader_server, first_server, second_server)
    asyncio.run(scenario())


def test_a_deposed_leaders_heartbeat_answer_grants_no_lease_and_the_next_coordinator_is_asked():
    async def scenario():
        deposed = SimulatedCoordinator(leads=True, epoch=5, writable=("c-0009",))
        leader = SimulatedCoordinator(leads=True, epoch=7)
        (deposed_server, deposed_at), (leader_server, leader_at) = await _serve(deposed), await _serve(leader)
        coordinators = Coordinators([deposed_at, leader_at], Transport(None))
        epochs = EpochBook()
        assert epochs.admit(7).accepted   # the agent has heard from the leader of epoch 7 already
        lease = Lease(margin=0.1)
        task = asyncio.create_task(_heartbeater(coordinators, lease, epochs).run())
        try:
            await _leased(lease)
            assert coordinators.current == leader_at and deposed.heartbeats == 1
            assert lease.authorized == {"c-0001"}, "the deposed leader's word on the primaries was not taken"
            assert epochs.seen == 7
        finally:
            await _stop(task, coordinators, deposed_server, leader_server)
    asyncio.run(scenario())


def test_the_coordinator_list_is_host_port_pairs():
    assert parse("10.0.0.1:7420, 10.0.0.2:7420") == ["10.0.0.1:7420", "10.0.0.2:7420"]
    for bad in ("", ",", "10.0.0.1"):
        with pytest.raises(ValueError):
            parse(bad)
