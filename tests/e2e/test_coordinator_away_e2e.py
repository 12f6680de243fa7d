"""A coordinator that was itself away judges no host by its own absence: stopped (SIGSTOP) for
twice the host timeout, it resumes without declaring any host lost, failing anything over or
moving any node."""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers.clusters import a_reconcile_cycle_passes, create
from tests.helpers.fleet import Fleet
from tests.helpers.groups import create_group, members, primary_of, wait_group


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=3).start()
    yield f
    f.discard()


def placement(fleet: Fleet, cluster_id: str) -> list[tuple[str, str]]:
    cluster = fleet.wait_status(cluster_id, "available")
    return [(n.cache_node_id, n.host_id) for n in cluster.cache_nodes]


def test_a_coordinator_stopped_past_the_host_timeout_loses_no_host_and_fails_nothing_over(fleet):
    create_group(fleet, "away")
    before = wait_group(fleet, "away")
    create(fleet, "standalone", nodes=2)
    nodes_before = placement(fleet, "standalone")

    os.kill(fleet.coordinator.pid, signal.SIGSTOP)
    try:
        time.sleep(2 * fleet.host_timeout)   # the outage itself: no heartbeat is read meanwhile
    finally:
        os.kill(fleet.coordinator.pid, signal.SIGCONT)
    a_reconcile_cycle_passes(fleet)

    after = wait_group(fleet, "away")
    assert primary_of(after).cache_cluster_id == primary_of(before).cache_cluster_id
    assert set(members(after)) == set(members(before))
    assert placement(fleet, "standalone") == nodes_before
    lost = [m for m in fleet.events() if " lost" in m or "Failover" in m or "Recovering" in m]
    assert lost == [], lost
