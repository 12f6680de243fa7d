"""A host is lost only for heartbeats the coordinator was there to receive: the coordinator's
own stalls (a stopped process, a blocked event loop) are not counted against the hosts."""
from __future__ import annotations

import asyncio

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.state.registry import STALL_SECONDS, TICK_SECONDS, HostRegistry
from coordinator.state.store import SqliteStore
from tests.helpers.clock import HandClock

TIMEOUT = 1.5


def scenario(tmp_path, body) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "state.db")
        try:
            clock = HandClock()
            registry = HostRegistry(store, TIMEOUT, monotonic=clock)
            await registry.heartbeat(agent_pb.HostInfo(host_id="h1", address="127.0.1.1"), [])
            await body(registry, clock)
        finally:
            await store.close()
    asyncio.run(main())


def present(registry: HostRegistry, clock: HandClock, seconds: float) -> None:
    """The coordinator runs for `seconds`: its clock ticks as keep_time's would."""
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(end, clock.now + TICK_SECONDS)
        registry.credit_own_absence()


def test_a_host_silent_past_the_timeout_while_the_coordinator_was_there_is_lost(tmp_path):
    async def body(registry, clock):
        registry.credit_own_absence()
        present(registry, clock, TIMEOUT + 0.2)
        assert [h.host_id for h in registry.newly_lost()] == ["h1"]
    scenario(tmp_path, body)


def test_a_coordinator_stopped_for_ten_seconds_declares_no_host_lost_when_it_resumes(tmp_path):
    async def body(registry, clock):
        registry.credit_own_absence()
        clock.now += 10.0                      # SIGSTOP, then SIGCONT: no tick ran meanwhile
        assert registry.newly_lost() == []
        assert registry.is_live("h1") and 9.9 < registry.away_seconds <= 10.0
    scenario(tmp_path, body)


def test_after_a_stall_a_silent_host_needs_a_whole_timeout_of_the_coordinators_presence(tmp_path):
    async def body(registry, clock):
        registry.credit_own_absence()
        present(registry, clock, 1.0)          # silent 1 s while we listened
        clock.now += 10.0                      # then we were away
        assert registry.newly_lost() == []
        present(registry, clock, 0.4)          # 1.4 s of silence we heard: not yet
        assert registry.newly_lost() == []
        present(registry, clock, 0.2)          # 1.6 s: lost
        assert [h.host_id for h in registry.newly_lost()] == ["h1"]
    scenario(tmp_path, body)


def test_a_heartbeat_handled_first_after_a_stall_still_credits_the_other_hosts(tmp_path):
    async def body(registry, clock):
        await registry.heartbeat(agent_pb.HostInfo(host_id="h2", address="127.0.1.2"), [])
        registry.credit_own_absence()
        clock.now += 5.0
        await registry.heartbeat(agent_pb.HostInfo(host_id="h2", address="127.0.1.2"), [])
        assert registry.newly_lost() == [] and registry.is_live("h1")
    scenario(tmp_path, body)


def test_ordinary_lateness_below_the_stall_threshold_is_not_credited(tmp_path):
    async def body(registry, clock):
        registry.credit_own_absence()
        for _ in range(4):                     # a busy loop: every tick a little late, never stalled
            clock.now += STALL_SECONDS * 0.9
            registry.credit_own_absence()
        assert registry.away_seconds == 0.0
        assert [h.host_id for h in registry.newly_lost()] == ["h1"]
    scenario(tmp_path, body)


def test_without_keeping_time_the_registry_judges_by_the_clock_alone(tmp_path):
    async def body(registry, clock):
        clock.now += TIMEOUT + 0.1             # keep_time never ran (as in a decision test)
        assert [h.host_id for h in registry.newly_lost()] == ["h1"]
    scenario(tmp_path, body)
