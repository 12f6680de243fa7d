"""Redis replication group members on a real agent: roles, restarts, leases and fences.

One agent serves the module; each test makes its own group of a primary on the
host's main address and a replica on its extra address, on one port, as a
replication group's nodes share a port. The coordinator is a fake that answers
heartbeats with the lease and the writable primaries each test sets.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable

import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from nodeagent.engines.redis import FENCE
from nodeagent.health import PRIMARY_HELD
from nodeagent.supervisor import pid_alive
from tests.helpers.agent import AgentProcess, FakeCoordinator, free_port, loopback_address, shared_port, wait_until

ADDRESS = loopback_address("127.0.81")
EXTRA_ADDRESS = loopback_address("127.0.82")
LEASE_MS = 1000
FENCE_MARGIN = 0.2


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator(lease_ms=LEASE_MS) as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint,
                      extra_addresses=[EXTRA_ADDRESS],
                      extra_args=["--fence-margin", str(FENCE_MARGIN)]).start() as running:
        yield running


@pytest.fixture(autouse=True)
def answering(coordinator):
    yield
    coordinator.answer()




def reported_after(coordinator: FakeCoordinator, node_key: str, since: float,
                   where: Callable[[pb.NodeState], bool], timeout: float) -> float:
    """When the first heartbeat received after since reported node_key as where says."""
    def first() -> float | None:
        for at, beat in list(coordinator.heartbeats):
            node = next((n for n in beat.nodes if n.node_key == node_key), None)
            if at > since and node is not None and where(node):
                return at
        return None
    return wait_until(first, timeout, interval=0.005, message=f"{node_key} reported")


def node_spec(node_key: str, port: int, role: pb.Role.ValueType, address: str = ADDRESS,
              follows: str = "", **fields) -> pb.NodeSpec:
    cluster, node = node_key.rsplit("-", 1)
    if follows:
        fields.update(primary_address=follows, primary_port=port)
    return pb.NodeSpec(node_key=node_key, cache_cluster_id=cluster, cache_node_id=node, engine="redis",
                       port=port, max_memory_mb=64, bind_address=address, role=role, **fields)


def ensure(agent: AgentProcess, spec: pb.NodeSpec) -> pb.NodeState:
    return agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=spec), timeout=15)


def listed(agent: AgentProcess, node_key: str) -> pb.NodeState:
    return next(n for n in agent.stub().ListNodes(pb.ListNodesRequest(), timeout=5).nodes
                if n.node_key == node_key)


def client(address: str, port: int) -> redis.Redis:
    # No retries: a refused write or a closed connection must show, not be papered over.
    return redis.Redis(host=address, port=port, socket_timeout=1, retry=None)


def write(address: str, port: int, key: str = "k", value: str = "v") -> str:
    """'OK', or the error redis answered (NOREPLICAS..., READONLY...), or 'down'."""
    try:
        client(address, port).set(key, value)
        return "OK"
    except redis.ResponseError as error:
        return str(error)
    except redis.ConnectionError:
        return "down"


class Group:
    """A primary on ADDRESS and its replica on EXTRA_ADDRESS, serving and in sync."""

    def __init__(self, agent: AgentProcess, coordinator: FakeCoordinator, name: str,
                 replica_agent: str = "") -> None:
        """replica_agent: the endpoint the primary's failsafe asks about its replica (default:
        an endpoint nobody answers, so the primary is fenced when the coordinator is silent)."""
        self.agent, self.coordinator = agent, coordinator
        self.port = shared_port(ADDRESS, EXTRA_ADDRESS)
        self.primary, self.replica = f"{name}-0001", f"{name}-0002"
        coordinator.writable_primaries.add(self.primary)
        self.peer = pb.Peer(node_key=self.replica, agent_endpoint=replica_agent or f"127.0.0.1:{free_port()}")
        ensure(agent, node_spec(self.primary, self.port, pb.ROLE_PRIMARY, peers=[self.peer]))
        ensure(agent, node_spec(self.replica, self.port, pb.ROLE_REPLICA, EXTRA_ADDRESS, follows=ADDRESS))
        wait_until(lambda: write(ADDRESS, self.port) == "OK", timeout=3, message="primary writable")
        self.wait_linked(self.replica, ADDRESS)

    def wait_linked(self, node_key: str, primary_address: str) -> pb.NodeState:
        return self.coordinator.wait_for_node(
            node_key, pb.NODE_STATUS_AVAILABLE, timeout=5,
            where=lambda n: (n.replication.role, n.replication.link_status, n.replication.primary_host,
                             n.replication.sync_in_progress) == (pb.ROLE_REPLICA, pb.LINK_STATE_UP, primary_address, False))

    def pids(self) -> tuple[int, int]:
        pids = self.agent.engine_pids()
        return pids[self.primary], pids[self.replica]


def test_a_replica_copies_its_primary_and_both_report_replication(agent, coordinator):
    group = Group(agent, coordinator, "copy")
    primary, replica = client(ADDRESS, group.port), client(EXTRA_ADDRESS, group.port)
    primary.set("greeting", "hello")
    assert wait_until(lambda: replica.get("greeting"), timeout=2) == b"hello"
    assert write(EXTRA_ADDRESS, group.port).startswith("You can't write against a read only replica")

    def in_step():
        states = {n.node_key: n for n in coordinator.latest(agent.host_id).nodes}
        p, r = states.get(group.primary), states.get(group.replica)
        return p and r and p.replication.offset == r.replication.offset > 0 and (p, r)
    p, r = wait_until(in_step, timeout=3, message="replica offset reaches the primary's")
    assert (p.replication.role, p.replication.connected_replicas, p.fenced) == (pb.ROLE_PRIMARY, 1, False)
    assert p.replication.full_syncs >= 1 and p.replication.run_id
    assert (r.replication.role, r.replication.link_status) == (pb.ROLE_REPLICA, pb.LINK_STATE_UP)
    assert (r.replication.primary_host, r.replication.primary_port) == (ADDRESS, group.port)
    assert 0 <= r.replication.last_io_seconds_ago <= 1 and r.replication.run_id != p.replication.run_id
    replication_conf = (agent.state.data_dir(group.replica) / "replication.conf").read_text()
    assert f"replicaof {ADDRESS} {group.port}" in replication_conf


def test_promotion_and_demotion_keep_the_engines_and_the_data_and_close_old_clients(agent, coordinator):
    group = Group(agent, coordinator, "switch")
    client(ADDRESS, group.port).set("before", "1")
    pids = group.pids()
    programs = [agent.state.program_conf(key).read_text() for key in (group.primary, group.replica)]
    with socket.create_connection((ADDRESS, group.port), timeout=2) as application, \
            socket.create_connection((ADDRESS, group.port), timeout=2) as subscriber:
        application.sendall(b"PING\r\n")
        assert application.recv(100) == b"+PONG\r\n"
        subscriber.sendall(b"SUBSCRIBE news\r\n")
        assert subscriber.recv(100).startswith(b"*3\r\n$9\r\nsubscribe")

        # A planned switch, as the coordinator makes it: hold writes on the old primary,
        # promote the replica once it has everything, then make the old primary follow it.
        ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY, write_fenced=True))
        wait_until(lambda: client(EXTRA_ADDRESS, group.port).get("before"), timeout=2)
        coordinator.writable_primaries = {group.replica}
        started = time.monotonic()
        promoted = ensure(agent, node_spec(group.replica, group.port, pb.ROLE_PRIMARY, EXTRA_ADDRESS))
        promotion_s = time.monotonic() - started
        assert promoted.replication.role == pb.ROLE_PRIMARY and not promoted.fenced
        assert write(EXTRA_ADDRESS, group.port, "after", "2") == "OK"
        demoted = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_REPLICA, follows=EXTRA_ADDRESS))
        assert demoted.replication.role == pb.ROLE_REPLICA
        for connection in (application, subscriber):
            assert connection.recv(100) == b"", "the demoted primary closes its clients' connections"
    print(f"\npromotion: EnsureNode returned in {promotion_s * 1000:.1f} ms")
    assert promotion_s < 0.1
    assert write(ADDRESS, group.port).startswith("You can't write against a read only replica")
    group.wait_linked(group.primary, EXTRA_ADDRESS)
    assert client(ADDRESS, group.port).get("after") == b"2"
    assert client(ADDRESS, group.port).get("before") == b"1"
    assert group.pids() == pids, "a role change never restarts an engine"
    assert [agent.state.program_conf(key).read_text() for key in (group.primary, group.replica)] == programs


def test_a_killed_primary_stays_down_even_when_the_agent_restarts(agent, coordinator):
    group = Group(agent, coordinator, "crash")
    client(ADDRESS, group.port).set("kept", "yes")
    wait_until(lambda: client(EXTRA_ADDRESS, group.port).get("kept"), timeout=2)
    pid, _ = group.pids()
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    noticed = reported_after(coordinator, group.primary, killed, lambda n: not n.healthy, 1) - killed
    stopped = reported_after(coordinator, group.primary, killed, lambda n: n.status == pb.NODE_STATUS_STOPPED, 2) - killed
    # the replica's broken link is what a failover's choice waits for: said at once, not at
    # the next probe (the primary dropped the replica agent's connection to it)
    broken = reported_after(coordinator, group.replica, killed,
                            lambda n: n.replication.link_status != pb.LINK_STATE_UP, 1) - killed
    state = coordinator.node_state(group.primary)
    print(f"\nprimary SIGKILLed: reported unhealthy after {noticed * 1000:.0f} ms, "
          f"stopped after {stopped * 1000:.0f} ms, the replica's link down after {broken * 1000:.0f} ms")
    assert noticed < 0.3
    assert broken < 0.15
    assert state.message == PRIMARY_HELD and state.pid == 0 and not pid_alive(pid)
    # Still down over several heartbeats and poll rounds.
    count = len(coordinator.heartbeats)
    wait_until(lambda: len(coordinator.heartbeats) >= count + 6, timeout=3)
    assert coordinator.node_state(group.primary).status == pb.NODE_STATUS_STOPPED
    assert agent.engine_pids()[group.primary] == 0

    instance = coordinator.latest(agent.host_id).host.agent_instance_id
    agent.kill()
    agent.start()
    first = wait_until(lambda: next((beat for _, beat in list(coordinator.heartbeats)
                                     if beat.host.agent_instance_id not in ("", instance)), None),
                       timeout=3, message="a heartbeat from the restarted agent")
    state = next(n for n in first.nodes if n.node_key == group.primary)
    assert (state.status, state.message, state.pid) == (pb.NODE_STATUS_STOPPED, PRIMARY_HELD, 0)
    count = len(coordinator.heartbeats)
    wait_until(lambda: len(coordinator.heartbeats) >= count + 4, timeout=3)
    assert agent.engine_pids()[group.primary] == 0
    assert client(EXTRA_ADDRESS, group.port).get("kept") == b"yes", "the replica kept its data"

    # The coordinator decides: an explicit EnsureNode starts it.
    restarted = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY))
    assert restarted.pid not in (0, pid)
    coordinator.wait_for_node(group.primary, pb.NODE_STATUS_AVAILABLE, timeout=3)


def test_the_primarys_spec_sent_again_after_its_engine_died_does_not_start_it_while_it_has_replicas(
        agent, coordinator):
    # The coordinator sends a primary's spec again when its replicas' links break (its guard
    # changes), which they do because its engine died: that ensure may come before the
    # coordinator has seen the death. Started, the engine would come back with its last RDB
    # file (or empty), and its replicas would copy it.
    group = Group(agent, coordinator, "race")
    pid, _ = group.pids()
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    reported_after(coordinator, group.primary, killed, lambda n: n.status == pb.NODE_STATUS_STOPPED, 2)
    state = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY, peers=[group.peer]))
    assert (state.status, state.message, state.pid) == (pb.NODE_STATUS_STOPPED, PRIMARY_HELD, 0)
    count = len(coordinator.heartbeats)
    wait_until(lambda: len(coordinator.heartbeats) >= count + 4, timeout=3)
    assert agent.engine_pids()[group.primary] == 0 and not pid_alive(pid)
    assert coordinator.node_state(group.primary).status == pb.NODE_STATUS_STOPPED
    # a reboot is a decision to start it
    rebooted = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY, peers=[group.peer],
                                       reboot_generation=1))
    assert rebooted.pid not in (0, pid)


def test_a_killed_replica_is_started_again_and_resyncs(agent, coordinator):
    group = Group(agent, coordinator, "resync")
    client(ADDRESS, group.port).set("before", "1")
    _, pid = group.pids()
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    client(ADDRESS, group.port).set("while-down", "2")
    noticed = reported_after(coordinator, group.replica, killed,
                             lambda n: not n.healthy or n.pid != pid, 1) - killed
    state = group.wait_linked(group.replica, ADDRESS)
    print(f"\nreplica SIGKILLed: reported after {noticed * 1000:.0f} ms, "
          f"linked again after {(time.monotonic() - killed) * 1000:.0f} ms")
    assert noticed < 0.3
    assert state.pid not in (0, pid) and state.restarts == 1
    replica = client(EXTRA_ADDRESS, group.port)
    assert wait_until(lambda: replica.get("while-down"), timeout=2) == b"2"
    assert replica.get("before") == b"1"


def test_a_primary_cut_off_from_the_coordinator_refuses_writes_before_its_lease_ends(agent, coordinator):
    group = Group(agent, coordinator, "cutoff")
    last_answered = coordinator.hang()
    lease_end = last_answered + LEASE_MS / 1000
    refused = wait_until(lambda: (answer := write(ADDRESS, group.port)) != "OK" and answer,
                         timeout=LEASE_MS / 1000 + 1, interval=0.005)
    refused_at = time.monotonic()
    print(f"\ncoordinator silent: writes refused {(lease_end - refused_at) * 1000:.0f} ms "
          f"before the lease ended")
    assert refused.startswith("NOREPLICAS")
    assert refused_at < lease_end, "a primary must be fenced before its lease runs out"
    assert refused_at > last_answered + (LEASE_MS / 1000 - FENCE_MARGIN) - 0.3, "fenced too early"
    assert listed(agent, group.primary).fenced
    assert write(EXTRA_ADDRESS, group.port).startswith("You can't write")

    coordinator.answer()
    wait_until(lambda: write(ADDRESS, group.port) == "OK", timeout=3, message="writable again")
    coordinator.wait_for_node(group.primary, pb.NODE_STATUS_AVAILABLE, timeout=1, where=lambda n: not n.fenced)


def test_a_primary_whose_replica_confirms_it_keeps_taking_writes_while_the_coordinator_is_silent(agent, coordinator):
    group = Group(agent, coordinator, "failsafe", replica_agent=agent.endpoint)
    last_answered = coordinator.hang()
    wait_until(lambda: time.monotonic() > last_answered + 3 * LEASE_MS / 1000, timeout=5, message="3 leases")
    assert write(ADDRESS, group.port) == "OK"
    assert not listed(agent, group.primary).fenced
    coordinator.answer()


def test_a_primary_left_out_of_writable_primaries_is_fenced_at_once(agent, coordinator):
    group = Group(agent, coordinator, "unlisted")
    coordinator.writable_primaries.discard(group.primary)
    dropped = time.monotonic()
    refused = wait_until(lambda: (answer := write(ADDRESS, group.port)) != "OK" and answer,
                         timeout=1, interval=0.005)
    assert refused.startswith("NOREPLICAS")
    assert time.monotonic() - dropped < 0.5, "one heartbeat, not a lease, later"
    coordinator.wait_for_node(group.primary, pb.NODE_STATUS_AVAILABLE, timeout=1, where=lambda n: n.fenced)
    coordinator.writable_primaries.add(group.primary)
    wait_until(lambda: write(ADDRESS, group.port) == "OK", timeout=1, message="writable again")


def test_write_fenced_primary_refuses_writes_until_the_fence_is_lifted(agent, coordinator):
    group = Group(agent, coordinator, "held")
    state = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY, write_fenced=True))
    assert state.fenced
    assert write(ADDRESS, group.port).startswith("NOREPLICAS"), "fenced when EnsureNode returns"
    count = len(coordinator.heartbeats)
    wait_until(lambda: len(coordinator.heartbeats) >= count + 3, timeout=2)
    assert write(ADDRESS, group.port).startswith("NOREPLICAS"), "the lease does not lift write_fenced"
    state = ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY))
    assert not state.fenced and write(ADDRESS, group.port) == "OK"


def test_a_fence_lifted_by_a_client_through_either_setting_is_put_back(agent, coordinator):
    group = Group(agent, coordinator, "lifted")
    ensure(agent, node_spec(group.primary, group.port, pb.ROLE_PRIMARY, write_fenced=True))
    client = redis.Redis(ADDRESS, group.port, socket_timeout=1, decode_responses=True)
    for setting in ("min-replicas-max-lag", "min-replicas-to-write"):   # redis ignores the other at 0
        client.config_set(setting, 0)
        wait_until(lambda: write(ADDRESS, group.port).startswith("NOREPLICAS"), timeout=1, interval=0.005,
                   message=f"the fence back after {setting} 0")
    assert client.config_get("min-replicas-*") == {"min-replicas-max-lag": "1",
                                                   "min-replicas-to-write": str(FENCE)}
