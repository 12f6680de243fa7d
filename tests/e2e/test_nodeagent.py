"""The node agent against real supervisord, memcached and redis-server.

One agent serves the module (its engines use separate ports); tests that need
a fresh agent start their own. The coordinator is a fake that records heartbeats.
"""
from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import time

import grpc
import pymemcache.client.base
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from nodeagent.supervisor import pid_alive
from tests.helpers.agent import (AgentProcess, FakeCoordinator, free_port, loopback_address,
                                 port_open, wait_until)

ADDRESS = loopback_address()
EXTRA_ADDRESS = loopback_address("127.0.78")


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator() as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint,
                      extra_addresses=[EXTRA_ADDRESS]).start() as running:
        yield running


def spec(node_key: str, engine: str = "memcached", **fields) -> pb.NodeSpec:
    fields.setdefault("port", free_port(ADDRESS))
    fields.setdefault("max_memory_mb", 64)
    return pb.NodeSpec(node_key=node_key, cache_cluster_id=node_key.rsplit("-", 1)[0],
                       cache_node_id=node_key.rsplit("-", 1)[1], engine=engine, **fields)


def ensure(agent: AgentProcess, node: pb.NodeSpec) -> pb.NodeState:
    return agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=node), timeout=15)


def memcached_roundtrip(port: int, key: str = "k") -> bool:
    """A set then a get through a new connection; False while the node does not serve."""
    client = pymemcache.client.base.Client((ADDRESS, port), connect_timeout=0.2, timeout=0.2)
    try:
        client.set(key, b"v")
        return client.get(key) == b"v"
    except (OSError, pymemcache.exceptions.MemcacheError):
        return False
    finally:
        client.close()


def test_memcached_node_serves_and_is_reported_available_within_a_second(agent, coordinator):
    node = spec("mc-0001")
    started = time.monotonic()
    state = ensure(agent, node)
    assert state.status in (pb.NODE_STATUS_STARTING, pb.NODE_STATUS_AVAILABLE) and state.pid > 0
    assert time.monotonic() - started < 1.0, "EnsureNode must not wait for the engine"
    coordinator.wait_for_node("mc-0001", pb.NODE_STATUS_AVAILABLE, timeout=1.0 - (time.monotonic() - started))
    assert memcached_roundtrip(node.port)


def test_redis_node_serves_with_parameters_applied_last(agent, coordinator):
    node = spec("rd-0001", engine="redis", parameters={"maxmemory-policy": "allkeys-lru"})
    started = time.monotonic()
    ensure(agent, node)
    coordinator.wait_for_node("rd-0001", pb.NODE_STATUS_AVAILABLE, timeout=1.0 - (time.monotonic() - started))
    client = redis.Redis(host=ADDRESS, port=node.port, socket_timeout=1)
    assert client.set("k", "v") and client.get("k") == b"v"
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
    client.close()


def test_node_binds_to_an_extra_address_of_the_host(agent, coordinator):
    port = free_port(EXTRA_ADDRESS)
    ensure(agent, spec("rd-0003", engine="redis", port=port, bind_address=EXTRA_ADDRESS))
    coordinator.wait_for_node("rd-0003", pb.NODE_STATUS_AVAILABLE, timeout=2)
    assert list(coordinator.latest(agent.host_id).host.extra_addresses) == [EXTRA_ADDRESS]
    assert redis.Redis(host=EXTRA_ADDRESS, port=port, socket_timeout=1).ping()
    assert not port_open(ADDRESS, port)


def test_ensure_node_twice_is_a_no_op(agent, coordinator):
    node = spec("mc-0002")
    first = ensure(agent, node)
    coordinator.wait_for_node("mc-0002", pb.NODE_STATUS_AVAILABLE, timeout=2)
    program = agent.state.program_conf("mc-0002")
    written = program.stat().st_mtime_ns
    second = ensure(agent, node)
    assert second.pid == first.pid
    assert second.status == pb.NODE_STATUS_AVAILABLE and second.restarts == 0
    assert program.stat().st_mtime_ns == written
    assert agent.engine_pids()["mc-0002"] == first.pid


def test_killed_memcached_serves_again_within_two_seconds_and_counts_a_restart(agent, coordinator):
    node = spec("mc-0003")
    old_pid = ensure(agent, node).pid
    coordinator.wait_for_node("mc-0003", pb.NODE_STATUS_AVAILABLE, timeout=2)
    os.kill(old_pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: memcached_roundtrip(node.port), timeout=2.0, message="serving again")
    assert time.monotonic() - killed < 2.0
    state = coordinator.wait_for_node("mc-0003", pb.NODE_STATUS_AVAILABLE, timeout=2,
                                      where=lambda n: n.pid != old_pid and n.restarts == 1)
    assert state.process_state in ("STARTING", "RUNNING")


def test_agent_killed_and_restarted_reattaches_without_restarting_engines(agent, coordinator):
    node = spec("mc-0004")
    pid = ensure(agent, node).pid
    coordinator.wait_for_node("mc-0004", pb.NODE_STATUS_AVAILABLE, timeout=2)
    supervisord = agent.state.supervisord_pid.read_text()
    instance = coordinator.latest(agent.host_id).host.agent_instance_id
    agent.kill()
    assert memcached_roundtrip(node.port), "the engine must outlive its agent"
    agent.start()
    assert agent.state.supervisord_pid.read_text() == supervisord
    listed = {n.node_key: n for n in agent.stub().ListNodes(pb.ListNodesRequest()).nodes}
    assert listed["mc-0004"].spec == node and listed["mc-0004"].pid == pid
    first = wait_until(lambda: next((beat for _, beat in list(coordinator.heartbeats)
                                     if beat.host.agent_instance_id not in ("", instance)), None),
                       timeout=2, message="a heartbeat from the restarted agent")
    state = next(n for n in first.nodes if n.node_key == "mc-0004")
    assert (state.status, state.pid, state.restarts) == (pb.NODE_STATUS_AVAILABLE, pid, 0), \
        "the first heartbeat after a restart already tells the truth"


def test_agent_stopped_with_sigterm_exits_cleanly_and_leaves_engines_running(agent, coordinator):
    node = spec("mc-0005")
    pid = ensure(agent, node).pid
    coordinator.wait_for_node("mc-0005", pb.NODE_STATUS_AVAILABLE, timeout=2)
    assert agent.stop() == 0
    assert memcached_roundtrip(node.port)
    agent.start()
    assert agent.engine_pids()["mc-0005"] == pid


def test_higher_reboot_generation_restarts_the_engine_and_a_lower_one_does_nothing(agent, coordinator):
    node = spec("rd-0002", engine="redis")
    old_pid = ensure(agent, node).pid
    coordinator.wait_for_node("rd-0002", pb.NODE_STATUS_AVAILABLE, timeout=2)
    node.reboot_generation = 1
    new_pid = ensure(agent, node).pid
    assert new_pid != old_pid
    state = coordinator.wait_for_node("rd-0002", pb.NODE_STATUS_AVAILABLE, timeout=2,
                                      where=lambda n: n.pid == new_pid)
    assert state.restarts == 0 and state.spec.reboot_generation == 1
    assert redis.Redis(host=ADDRESS, port=node.port, socket_timeout=1).ping()
    node.reboot_generation = 0
    stale = ensure(agent, node)
    assert stale.pid == new_pid and stale.spec.reboot_generation == 1


def test_changed_spec_replaces_the_program(agent, coordinator):
    node = spec("mc-0006")
    old_pid = ensure(agent, node).pid
    node.max_memory_mb = 128
    new_pid = ensure(agent, node).pid
    assert new_pid != old_pid
    coordinator.wait_for_node("mc-0006", pb.NODE_STATUS_AVAILABLE, timeout=2, where=lambda n: n.pid == new_pid)
    client = pymemcache.client.base.Client((ADDRESS, node.port), timeout=1)
    assert int(client.stats()[b"limit_maxbytes"]) == 128 * 1024 * 1024
    client.close()
    assert "-m 128" in agent.state.program_conf("mc-0006").read_text()


def test_remove_node_stops_it_forgets_it_and_is_idempotent(agent, coordinator):
    node = spec("mc-0007")
    ensure(agent, node)
    coordinator.wait_for_node("mc-0007", pb.NODE_STATUS_AVAILABLE, timeout=2)
    removed = agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="mc-0007"), timeout=15)
    assert removed.removed
    assert not port_open(ADDRESS, node.port)
    assert not agent.state.program_conf("mc-0007").exists()
    assert not agent.state.spec_file("mc-0007").exists()
    assert not agent.state.data_dir("mc-0007").exists()
    assert "mc-0007" not in agent.engine_pids()
    assert "mc-0007" not in {n.node_key for n in agent.stub().ListNodes(pb.ListNodesRequest()).nodes}
    wait_until(lambda: coordinator.node_state("mc-0007") is None, timeout=2,
               message="heartbeats stop listing the node")
    again = agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="mc-0007"), timeout=15)
    assert not again.removed
    assert removed.set_aside_path == ""         # memcached keeps nothing on disk
    assert not list(agent.state.set_aside_root.glob("mc-0007-*"))


def redis_node_with_saved_keys(agent, coordinator, node_key: str) -> pb.NodeSpec:
    node = spec(node_key, engine="redis")
    ensure(agent, node)
    coordinator.wait_for_node(node_key, pb.NODE_STATUS_AVAILABLE, timeout=5)
    client = redis.Redis(host=ADDRESS, port=node.port, socket_timeout=2)
    client.set("kept-key", "kept-value")
    client.save()
    client.close()
    assert (agent.state.data_dir(node_key) / "dump.rdb").exists()
    return node


def test_remove_node_without_discard_data_sets_the_redis_data_aside(agent, coordinator):
    node = redis_node_with_saved_keys(agent, coordinator, "rd-0031")
    removed = agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="rd-0031"), timeout=15)
    assert removed.removed and removed.set_aside_path
    kept = pathlib.Path(removed.set_aside_path)
    assert kept.parent == agent.state.set_aside_root
    assert re.fullmatch(r"rd-0031-\d{8}T\d{6}Z", kept.name)
    dump = (kept / "dump.rdb").read_bytes()
    assert b"kept-key" in dump and b"kept-value" in dump
    assert not agent.state.data_dir("rd-0031").exists()
    assert not port_open(ADDRESS, node.port)


def test_remove_node_with_discard_data_deletes_the_redis_data(agent, coordinator):
    redis_node_with_saved_keys(agent, coordinator, "rd-0032")
    removed = agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="rd-0032", discard_data=True), timeout=15)
    assert removed.removed and removed.set_aside_path == ""
    assert not agent.state.data_dir("rd-0032").exists()
    assert not list(agent.state.set_aside_root.glob("rd-0032-*"))


def test_remove_node_of_a_redis_node_that_saved_nothing_keeps_nothing(agent, coordinator):
    node = spec("rd-0033", engine="redis")
    ensure(agent, node)
    coordinator.wait_for_node("rd-0033", pb.NODE_STATUS_AVAILABLE, timeout=5)
    removed = agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="rd-0033"), timeout=15)
    assert removed.removed and removed.set_aside_path == ""
    assert not agent.state.data_dir("rd-0033").exists()


BAD_SPECS = [
    (pb.NodeSpec(node_key="Bad_Key", engine="memcached", port=20000, max_memory_mb=64),
     grpc.StatusCode.INVALID_ARGUMENT, "node_key"),
    (pb.NodeSpec(node_key="../etc", engine="memcached", port=20000, max_memory_mb=64),
     grpc.StatusCode.INVALID_ARGUMENT, "node_key"),
    (pb.NodeSpec(node_key="bad-1", engine="mongodb", port=20000, max_memory_mb=64),
     grpc.StatusCode.INVALID_ARGUMENT, "engine 'mongodb'"),
    (pb.NodeSpec(node_key="bad-2", engine="redis", port=80, max_memory_mb=64),
     grpc.StatusCode.INVALID_ARGUMENT, "port 80"),
    (pb.NodeSpec(node_key="bad-3", engine="redis", port=70000, max_memory_mb=64),
     grpc.StatusCode.INVALID_ARGUMENT, "port 70000"),
    (pb.NodeSpec(node_key="bad-4", engine="redis", port=20000, max_memory_mb=0),
     grpc.StatusCode.INVALID_ARGUMENT, "max_memory_mb"),
    (pb.NodeSpec(node_key="bad-5", engine="redis", engine_version="6.2", port=20000, max_memory_mb=64),
     grpc.StatusCode.FAILED_PRECONDITION, "EngineNotInstalled"),
    (pb.NodeSpec(node_key="bad-9", engine="redis", port=20000, max_memory_mb=64,
                 bind_address="127.0.79.1"),
     grpc.StatusCode.FAILED_PRECONDITION, "AddressNotOnHost"),
    (pb.NodeSpec(node_key="bad-6", engine="redis", port=20000, max_memory_mb=64,
                 parameters={"port": "1"}),
     grpc.StatusCode.INVALID_ARGUMENT, "'port' may not be set"),
    (pb.NodeSpec(node_key="bad-7", engine="memcached", port=20000, max_memory_mb=64,
                 parameters={"max_item_size": "1m\n[program:x]"}),
     grpc.StatusCode.INVALID_ARGUMENT, "control character"),
    (pb.NodeSpec(node_key="bad-8", engine="memcached", port=20000, max_memory_mb=64,
                 parameters={"no_such": "1"}),
     grpc.StatusCode.INVALID_ARGUMENT, "no_such"),
    (pb.NodeSpec(node_key="bad-10", engine="memcached", port=20000, max_memory_mb=64, role=pb.ROLE_PRIMARY),
     grpc.StatusCode.INVALID_ARGUMENT, "no role"),
    (pb.NodeSpec(node_key="bad-11", engine="redis", port=20000, max_memory_mb=64, role=pb.ROLE_REPLICA),
     grpc.StatusCode.INVALID_ARGUMENT, "primary_address and primary_port"),
    (pb.NodeSpec(node_key="bad-12", engine="redis", port=20000, max_memory_mb=64, role=7),
     grpc.StatusCode.INVALID_ARGUMENT, "role 7 is not one of"),
    (pb.NodeSpec(node_key="bad-13", engine="redis", port=20000, max_memory_mb=64,
                 parameters={"replicaof": "127.0.0.1 6379"}),
     grpc.StatusCode.INVALID_ARGUMENT, "'replicaof' may not be set"),
]


def state_dir_files(agent: AgentProcess) -> set[str]:
    return {str(path.relative_to(agent.state.root)) for path in agent.state.root.rglob("*")
            if not path.name.endswith(".log")}


def test_bad_requests_are_rejected_with_the_right_status_and_change_nothing(agent, coordinator):
    ensure(agent, spec("mc-0008", port=21000))
    before_files, before_pids = state_dir_files(agent), agent.engine_pids()
    before_nodes = agent.stub().ListNodes(pb.ListNodesRequest()).nodes
    clash = spec("mc-0009", port=21000)
    cases = BAD_SPECS + [(clash, grpc.StatusCode.FAILED_PRECONDITION, "PortInUse")]
    for bad, code, fragment in cases:
        with pytest.raises(grpc.RpcError) as raised:
            ensure(agent, bad)
        assert raised.value.code() == code, bad
        assert fragment in raised.value.details() and "Traceback" not in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        agent.stub().EnsureNode(pb.EnsureNodeRequest(), timeout=5)  # no spec at all
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="../nodes"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert state_dir_files(agent) == before_files
    assert agent.engine_pids() == before_pids
    assert [n.node_key for n in agent.stub().ListNodes(pb.ListNodesRequest()).nodes] == \
        [n.node_key for n in before_nodes]
    assert agent.alive()


def test_parameters_off_the_allow_list_are_refused_and_never_reach_the_engine(agent, coordinator, tmp_path):
    """loadmodule, dir and aclfile are not modifiable parameters in the catalogue: EnsureNode
    refuses them, for a new node and for a running one, before anything is written, and the
    running engine neither restarts nor learns of them."""
    node = spec("rd-0040", engine="redis", parameters={"maxmemory-policy": "allkeys-lru"})
    ensure(agent, node)
    coordinator.wait_for_node("rd-0040", pb.NODE_STATUS_AVAILABLE, timeout=2)
    conf = agent.state.data_dir("rd-0040") / "parameters.conf"
    before_files, before_pids, before_conf = state_dir_files(agent), agent.engine_pids(), conf.read_text()
    client = redis.Redis(host=ADDRESS, port=node.port, socket_timeout=1, decode_responses=True)
    data_dir = client.config_get("dir")["dir"]
    module = tmp_path / "module.so"
    module.write_bytes(b"not a module")
    for name, value in (("loadmodule", str(module)), ("dir", str(tmp_path)), ("aclfile", str(tmp_path / "a.acl"))):
        for bad in (spec("rd-0041", engine="redis", parameters={name: value}),
                    pb.NodeSpec(**{**{f.name: v for f, v in node.ListFields()},
                                   "parameters": {**node.parameters, name: value}})):
            with pytest.raises(grpc.RpcError) as raised:
                ensure(agent, bad)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert raised.value.details().startswith(f"InvalidParameterValue: parameter(s) {name!r} may not be "
                                                     "set on redis7.0"), raised.value.details()
    assert state_dir_files(agent) == before_files and conf.read_text() == before_conf
    assert agent.engine_pids() == before_pids and "rd-0041" not in before_pids
    assert client.config_get("dir")["dir"] == data_dir and client.execute_command("MODULE", "LIST") == []
    assert client.config_get("aclfile")["aclfile"] == ""
    assert "loadmodule" not in conf.read_text()
    client.close()
    assert agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="rd-0040"), timeout=15).removed


def test_port_taken_by_another_listener_reports_failed_with_address_in_use(agent, coordinator):
    with socket.socket() as squatter:
        squatter.bind((ADDRESS, 0))
        squatter.listen()
        node = spec("mc-0010", port=squatter.getsockname()[1])
        ensure(agent, node)
        state = coordinator.wait_for_node("mc-0010", pb.NODE_STATUS_FAILED, timeout=8)
    assert "Address already in use" in state.message, state.message
    assert agent.stub().RemoveNode(pb.RemoveNodeRequest(node_key="mc-0010"), timeout=15).removed


def test_each_node_is_probed_five_times_a_second_on_one_connection(agent, coordinator):
    node = spec("mc-0011")
    ensure(agent, node)
    coordinator.wait_for_node("mc-0011", pb.NODE_STATUS_AVAILABLE, timeout=2)
    client = pymemcache.client.base.Client((ADDRESS, node.port), timeout=1)
    client.stats()  # opens the one connection this test uses
    first, started = client.stats(), time.monotonic()
    window = 2.0
    # Sample over a fixed window: the count is the measurement, so the window is not a wait.
    last, ended = wait_until(lambda: time.monotonic() - started >= window and (client.stats(), time.monotonic()),
                             timeout=window + 1, interval=0.05)
    client.close()
    elapsed = ended - started
    # every probe is `version\r\n` (9 bytes) on the agent's one connection; ours, one `stats\r\n` (7)
    probed = int(last[b"bytes_read"]) - int(first[b"bytes_read"]) - 7
    assert probed // 9 >= 5 * elapsed - 1, f"{probed // 9} probes in {elapsed:.2f}s"
    # and not one new connection for them: a node's NewConnections are its clients'
    assert int(last[b"total_connections"]) == int(first[b"total_connections"])


def test_a_down_coordinator_is_retried_and_shutdown_leaves_no_engine_behind(tmp_path):
    port = free_port()
    address = loopback_address()
    agent = AgentProcess(address, tmp_path / "agent", f"127.0.0.1:{port}").start()
    try:
        node = pb.NodeSpec(node_key="mc-0001", engine="memcached", port=free_port(address),
                           max_memory_mb=16)
        agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=node), timeout=15)
        assert "coordinator unreachable" in wait_until(
            lambda: "coordinator unreachable" in agent.log_tail(50) and agent.log_tail(50), timeout=5)
        with FakeCoordinator(port=port) as late:
            late.wait_for_node("mc-0001", pb.NODE_STATUS_AVAILABLE, timeout=5, host_id=address)
        assert agent.alive()
        pids = [pid for pid in agent.engine_pids().values() if pid]
        assert pids
        supervisord = int(agent.state.supervisord_pid.read_text())
    finally:
        agent.shutdown()
    assert not [pid for pid in [*pids, supervisord] if pid_alive(pid)]
