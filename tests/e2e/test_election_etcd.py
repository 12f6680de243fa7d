"""Leader election through a real etcd (coordinator/state/election.py): one contender leads; a
leader cut off from etcd stops acting before another can take over; a deposed leader's late
write fails instead of landing; resigning hands over at once, to a leader of a higher epoch."""
import asyncio
import socket
import time
import uuid

import pytest

from coordinator.domain.leadership import Timing
from coordinator.state.election import Elector, leader_key
from coordinator.state.store.etcd import EtcdStore, NotLeader
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.proxy import CuttableProxy

# renew every 0.3 s, each call at most 0.5 s: 0.3 + 2 x 0.5 <= a 2 s lease (etcd's shortest)
TIMING = Timing(ttl=2, renew_interval=0.3, retry_timeout=0.5)


async def _first_time(predicate, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic()


LISTENERS: dict[str, socket.socket] = {}   # each contender's stand-in for its API server


@pytest.fixture(autouse=True)
def _close_listeners():
    yield
    for listener in LISTENERS.values():
        listener.close()
    LISTENERS.clear()


def _contenders(etcd, namespace, *endpoints):
    """Two electors, each advertising a loopback port that accepts connections, as a live
    coordinator's API does (closing it is the process gone, as far as the others can tell)."""
    electors = []
    for name, endpoint in zip("ab", endpoints):
        LISTENERS[name] = socket.create_server(("127.0.0.1", 0))
        api = f"127.0.0.1:{LISTENERS[name].getsockname()[1]}"
        electors.append(Elector(EtcdClient([endpoint], tls=etcd.tls, timeout=TIMING.retry_timeout), name,
                                leader_key(namespace), TIMING, endpoint=api))
    return electors


def test_a_leader_cut_off_from_etcd_stops_acting_before_the_other_takes_over_and_its_late_write_fails(etcd):
    host, port = etcd.endpoint.split(":")
    proxy = CuttableProxy((host, int(port)))
    namespace = f"/test/{uuid.uuid4().hex}/"

    async def scenario():
        a, b = _contenders(etcd, namespace, proxy.endpoint, etcd.endpoint)
        assert await a.run_cycle() == "took the leadership: I am a, the leader with the lease"
        assert await b.run_cycle() == "following a, the leader"
        assert b.leader_endpoint == a.endpoint
        # a's writes reach etcd on a path of their own, which the cut below leaves alone
        state = EtcdStore(EtcdClient([etcd.endpoint], tls=etcd.tls), prefix=namespace + "state/")
        as_a = a.store(state)
        assert await as_a.put("clusters/c1", {"by": "a"}) is not None
        with pytest.raises(NotLeader):
            b.store(state)

        loops = [asyncio.create_task(elector.run()) for elector in (a, b)]
        cut = time.monotonic()
        proxy.cut()
        a_stopped = await _first_time(lambda: not a.leading, TIMING.ttl + 1)
        b_leads = await _first_time(lambda: b.leading, TIMING.ttl + 3)
        assert a_stopped < b_leads, "two coordinators acted as leader at once"
        assert a_stopped - cut <= TIMING.ttl - TIMING.retry_timeout + 0.1
        assert b_leads - cut <= TIMING.ttl + 1.5

        with pytest.raises(NotLeader, match="not the leader any more"):
            await as_a.put("clusters/c1", {"by": "a, late"})
        assert await b.store(state).put("clusters/c1", {"by": "b"}) is not None
        assert (await state.get("clusters/c1")).value == {"by": "b"}

        proxy.heal()
        await _first_time(lambda: a.sentence == "following b, the leader", 5)
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for elector in (a, b):
            await elector.resign()
            await elector.client.close()
        await state.close()
    try:
        asyncio.run(scenario())
    finally:
        proxy.close()


def test_a_leader_that_resigns_is_followed_at_once(etcd):
    namespace = f"/test/{uuid.uuid4().hex}/"

    async def scenario():
        a, b = _contenders(etcd, namespace, etcd.endpoint, etcd.endpoint)
        state = EtcdStore(EtcdClient([etcd.endpoint], tls=etcd.tls), prefix=namespace + "state/")
        await a.run_cycle()
        as_a = a.store(state)
        assert await b.run_cycle() == "following a, the leader"
        assert a.epoch > 0 and b.epoch == 0, "the leader's epoch is its key's creation revision; a follower has none"
        await a.resign()
        assert not a.leading
        assert await b.run_cycle() == "took the leadership: I am b, the leader with the lease"
        assert b.epoch > a.epoch > 0, "a later leader has a higher epoch; the deposed one keeps its own"
        with pytest.raises(NotLeader):
            await as_a.delete("anything")
        assert await a.run_cycle() == "following b, the leader"
        for elector in (a, b):
            await elector.resign()
            await elector.client.close()
        await state.close()
    asyncio.run(scenario())


def test_a_leader_whose_process_is_gone_is_replaced_within_a_cycle_and_its_lease_still_counted(etcd):
    """Its endpoint refuses connections: a follower revokes its lease and takes the key at its
    next cycle, not a lease later; it notes when that lease would have ended, before which it
    must not act on agents (a leader alive after all stops acting by then)."""
    namespace = f"/test/{uuid.uuid4().hex}/"

    async def scenario():
        a, b = _contenders(etcd, namespace, etcd.endpoint, etcd.endpoint)
        await a.run_cycle()
        assert await b.run_cycle() == "following a, the leader"
        assert await b.run_cycle() == "following a, the leader", "a live leader's lease is never revoked"
        LISTENERS["a"].close()                  # a's process is gone: nothing listens at its endpoint
        gone = time.monotonic()
        assert await b.run_cycle() == "took the leadership: I am b, the leader with the lease"
        assert time.monotonic() - gone < 1.0
        assert gone + TIMING.ttl - 1 <= b.predecessor_until <= gone + TIMING.ttl + 1.1
        assert await a.run_cycle() == "following b, the leader"   # a, alive after all, has lost its key
        assert not a.leading
        for elector in (a, b):
            await elector.resign()
            await elector.client.close()
    asyncio.run(scenario())
