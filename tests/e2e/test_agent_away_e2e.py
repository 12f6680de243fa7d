"""An agent that restarts or freezes while its engines run causes no failover and no failed
write: the primary's engine keeps replicating, its replicas keep seeing it, and the data plane
is what the coordinator judges by."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import redis

from tests.helpers.clusters import a_reconcile_cycle_passes
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.groups import client_for, create_group, primary_of, wait_group


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=3).start()
    yield f
    f.discard()


class CountingWriter:
    """SETs through the primary endpoint every 10 ms on one held connection, counting the
    writes answered OK and the ones refused or failed."""

    def __init__(self, fleet: Fleet, name: str, port: int):
        self.client = client_for(fleet, name, port)
        self.ok, self.failed = 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        n = 0
        while not self.stop.wait(0.01):
            try:
                self.client.set(f"a{n}", n)
                self.ok += 1
            except (redis.exceptions.RedisError, OSError) as e:
                self.failed.append(f"a{n}: {e}")
            n += 1

    def __enter__(self) -> CountingWriter:
        self.thread.start()
        wait_for(lambda: self.ok > 20, 5, what="writes flowing")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def freeze(host, seconds: float) -> None:
    os.kill(host.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)   # the fault itself: the agent says nothing meanwhile
    finally:
        os.kill(host.proc.pid, signal.SIGCONT)


def kill_and_restart(fleet: Fleet, host, seconds: float) -> None:
    host.proc.kill()
    host.proc.wait(10)
    time.sleep(seconds)       # the fault itself: no agent on the host meanwhile
    fleet.start_agent(host)


@pytest.mark.parametrize("fault", ["SIGKILL and restart", "SIGSTOP"])
def test_an_agent_away_past_the_host_timeout_fails_nothing_over_and_fails_no_write(fleet, fault):
    g = create_group(fleet, "agentaway")
    before = wait_group(fleet, "agentaway")
    primary = primary_of(before)
    host = next(h for h in fleet.hosts if h.host_id == primary.host_id)
    endpoint = before.node_groups[0].primary_endpoint

    with CountingWriter(fleet, endpoint.address, endpoint.port) as writer:
        ok_before = writer.ok
        if fault == "SIGSTOP":
            freeze(host, 3 * fleet.host_timeout)
        else:
            kill_and_restart(fleet, host, 3 * fleet.host_timeout)
        wait_for(lambda: any(h.host_id == host.host_id and h.status == "available" for h in fleet.describe_hosts()),
                 15, what=f"{host.host_id} back")
        a_reconcile_cycle_passes(fleet, host=host)
        ok_after = writer.ok

    assert writer.failed == []
    assert ok_after > ok_before + 3 * fleet.host_timeout / 0.02   # writes went on throughout
    after = wait_group(fleet, g.replication_group_id)
    assert primary_of(after).cache_cluster_id == primary.cache_cluster_id
    failovers = [m for m in fleet.events() if "Failover" in m or "promot" in m.lower() or "Recovering" in m]
    assert failovers == []
