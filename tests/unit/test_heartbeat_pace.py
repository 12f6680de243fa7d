"""The heartbeat pace grows with the fleet so that the coordinator answers every heartbeat in
time, and the lease arithmetic (lease >= 3 intervals, lease + fence slack <= host timeout)
holds at every size; a host is never declared lost while a lease it was granted still runs."""
from __future__ import annotations

import asyncio

import pytest
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.api.registry import HostRegistryService
from coordinator.domain.heartbeat_pace import FENCE_SLACK, FleetPace, Pace
from coordinator.server import CoordinatorConfig
from coordinator.state.registry import HostRegistry
from coordinator.state.store import SqliteStore
from tests.helpers.clock import HandClock

BASE = Pace(interval=0.2, lease=1.0, host_timeout=1.5)
BUDGET = 500.0


def test_a_fleet_within_the_budget_keeps_the_base_pace():
    assert FleetPace(BASE, BUDGET).for_hosts(3) == BASE
    assert FleetPace(BASE, BUDGET).for_hosts(100) == BASE     # 100 hosts / 0.2 s = 500 a second


def test_two_thousand_hosts_heartbeat_every_four_seconds_with_the_lease_and_timeout_stretched_alike():
    pace = FleetPace(BASE, BUDGET).for_hosts(2000)
    assert pace == Pace(interval=pytest.approx(4.0), lease=pytest.approx(20.0), host_timeout=pytest.approx(30.0))


@pytest.mark.parametrize("hosts", [1, 99, 101, 137, 500, 501, 2000, 10_000])
def test_the_fleets_heartbeats_stay_within_the_budget_and_the_lease_arithmetic_holds(hosts):
    pace = FleetPace(BASE, BUDGET).for_hosts(hosts)
    assert hosts / pace.interval <= BUDGET + 1e-9 or pace == BASE
    assert pace.lease >= 3 * pace.interval - 1e-9
    assert pace.lease + FENCE_SLACK <= pace.host_timeout + 1e-9


def test_the_interval_moves_in_steps_not_with_every_host_that_joins():
    fleet = FleetPace(BASE, BUDGET)
    assert fleet.for_hosts(2000) == fleet.for_hosts(1990)


def test_no_budget_means_the_base_pace_at_any_size():
    assert FleetPace(BASE, 0).for_hosts(100_000) == BASE


def test_a_coordinator_is_refused_a_budget_of_no_heartbeats():
    with pytest.raises(ValueError, match="heartbeats-per-second"):
        CoordinatorConfig(heartbeats_per_second=0).check()


def registry_scenario(tmp_path, hosts: int, body) -> None:
    """A registry paced for BUDGET with `hosts` hosts that heartbeated once."""
    async def main() -> None:
        store = SqliteStore(tmp_path / "state.db")
        try:
            clock = HandClock()
            registry = HostRegistry(store, BASE.host_timeout, monotonic=clock, pace=FleetPace(BASE, BUDGET))
            for i in range(hosts):
                await registry.heartbeat(agent_pb.HostInfo(host_id=f"h{i}", address=f"127.0.2.{i % 250 + 1}"), [])
            await body(registry, clock)
        finally:
            await store.close()
    asyncio.run(main())


def test_in_a_large_fleet_a_host_quiet_for_the_base_timeout_is_not_lost_but_one_quiet_past_its_own_is(tmp_path):
    async def body(registry: HostRegistry, clock: HandClock) -> None:
        assert registry.host_timeout == pytest.approx(30.0)
        clock.now += 5.0
        assert registry.newly_lost() == []
        clock.now += 25.1
        assert len(registry.newly_lost()) == 2000
    registry_scenario(tmp_path, 2000, body)


def test_a_lease_granted_to_a_large_fleet_outlives_a_timeout_that_shrank_since(tmp_path):
    async def body(registry: HostRegistry, clock: HandClock) -> None:
        granted = registry.grant("h0")                      # a 20 s lease, taken now
        assert granted.lease == pytest.approx(20.0)
        for i in range(1, 2000):                            # most of the fleet is removed
            del registry.hosts[f"h{i}"]
        assert registry.host_timeout == pytest.approx(BASE.host_timeout)
        clock.now += granted.lease                          # quiet past the small fleet's timeout
        assert registry.newly_lost() == []                  # its primaries may still take writes
        clock.now += FENCE_SLACK + 0.01
        assert [h.host_id for h in registry.newly_lost()] == ["h0"]
    registry_scenario(tmp_path, 2000, body)


def test_a_heartbeat_answer_carries_the_stretched_interval_and_lease(tmp_path):
    async def body(registry: HostRegistry, clock: HandClock) -> None:
        service = HostRegistryService(registry, lambda: None, writable=lambda host_id: [])
        request = agent_pb.HeartbeatRequest(host=agent_pb.HostInfo(
            host_id="h7", address="127.0.2.8", agent_endpoint="127.0.2.8:7500"))
        answer = await service.Heartbeat(request, None)
        assert (answer.heartbeat_interval_ms, answer.lease_ms) == (4000, 20000)
    registry_scenario(tmp_path, 2000, body)
