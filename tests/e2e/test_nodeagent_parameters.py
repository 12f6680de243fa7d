"""The agent and parameters: a change never restarts an engine; immediate ones are applied
live, the others at the next start; what runs is reported, across agent restarts too."""
from __future__ import annotations

import pymemcache.client.base
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from tests.helpers.agent import AgentProcess, FakeCoordinator, free_port, loopback_address, wait_until

ADDRESS = loopback_address("127.0.76")


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator() as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint).start() as running:
        yield running


def ensure(agent: AgentProcess, spec: pb.NodeSpec) -> pb.NodeState:
    return agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=spec), timeout=15)


def test_redis_takes_immediate_values_live_and_the_others_at_its_next_start(agent, coordinator):
    port = free_port(ADDRESS)
    spec = pb.NodeSpec(node_key="p-0001", cache_cluster_id="p", cache_node_id="0001", engine="redis", port=port,
                       max_memory_mb=64, parameters={"maxmemory-policy": "allkeys-lru", "hz": "10"},
                       immediate_parameters=["hz", "maxmemory-policy"])
    pid = ensure(agent, spec).pid
    coordinator.wait_for_node("p-0001", pb.NODE_STATUS_AVAILABLE, timeout=2)
    client = redis.Redis(host=ADDRESS, port=port, socket_timeout=1, decode_responses=True)
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"

    spec.parameters.update({"maxmemory-policy": "allkeys-lfu", "databases": "32"})
    spec.max_memory_mb = 32
    state = ensure(agent, spec)
    assert state.pid == pid and agent.engine_pids()["p-0001"] == pid
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu", \
        "applied within the EnsureNode call"
    assert client.config_get("maxmemory")["maxmemory"] == str(32 * 1024 * 1024)
    assert client.config_get("databases")["databases"] == "16"
    assert dict(state.applied_parameters) == {"maxmemory-policy": "allkeys-lfu", "hz": "10"}
    assert state.applied_max_memory_mb == 32

    agent.kill()   # what runs survives an agent restart
    agent.start()
    listed = {n.node_key: n for n in agent.stub().ListNodes(pb.ListNodesRequest()).nodes}
    assert listed["p-0001"].pid == pid and "databases" not in listed["p-0001"].applied_parameters

    spec.reboot_generation = 1
    new_pid = ensure(agent, spec).pid
    assert new_pid != pid
    state = coordinator.wait_for_node("p-0001", pb.NODE_STATUS_AVAILABLE, timeout=3, where=lambda n: n.pid == new_pid)
    assert state.applied_parameters["databases"] == "32"
    client = redis.Redis(host=ADDRESS, port=port, socket_timeout=1, decode_responses=True)
    assert client.config_get("databases")["databases"] == "32"
    assert client.config_get("maxmemory")["maxmemory"] == str(32 * 1024 * 1024)


def test_memcached_keeps_running_its_options_until_its_next_start(agent, coordinator):
    port = free_port(ADDRESS)
    spec = pb.NodeSpec(node_key="q-0001", cache_cluster_id="q", cache_node_id="0001", engine="memcached",
                       port=port, max_memory_mb=64)
    pid = ensure(agent, spec).pid
    coordinator.wait_for_node("q-0001", pb.NODE_STATUS_AVAILABLE, timeout=2)
    program = agent.state.program_conf("q-0001")
    before = program.read_text()
    spec.parameters.update({"chunk_size_growth_factor": "1.5", "lru_crawler": "0"})
    state = ensure(agent, spec)
    assert state.pid == pid and program.read_text() == before
    assert dict(state.applied_parameters) == {}
    spec.reboot_generation = 1
    new_pid = ensure(agent, spec).pid
    assert new_pid != pid
    state = coordinator.wait_for_node("q-0001", pb.NODE_STATUS_AVAILABLE, timeout=3, where=lambda n: n.pid == new_pid)
    assert dict(state.applied_parameters) == {"chunk_size_growth_factor": "1.5", "lru_crawler": "0"}
    assert "--slab-growth-factor=1.5" in program.read_text() and "no_lru_crawler" in program.read_text()
    client = pymemcache.client.base.Client((ADDRESS, port), timeout=1)
    settings = wait_until(lambda: client.stats("settings"), timeout=2, message="stats settings")
    assert settings[b"growth_factor"] == 1.5 and settings[b"lru_crawler"] in (False, b"no")
