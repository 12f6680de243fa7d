"""Engines run as a user of their own (cachefleet-engine), not the agent's: a real agent as
root, its supervisord dropping to that user, and a process of that uid trying the agent's
state and supervisord's socket. Root only (switching uids needs it)."""
from __future__ import annotations

import json
import os
import pwd
import subprocess

import psutil
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from cachefleet.common.system_users import DEFAULT_ENGINE_USER
from tests.helpers.agent import AgentProcess, FakeCoordinator, free_port, loopback_address

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching uids needs root")

ADDRESS = loopback_address("127.0.79")
# a python any user may run (the tests' own may live under /root)
PROBE_PYTHON = "/usr/bin/python3"
# What a process of the engine's uid tries on the agent's side; each answers its errno name
# (OK: it worked).
PROBE = """
import errno, json, os, socket, sys
root, spec = sys.argv[1], sys.argv[2]
def attempt(action):
    try:
        action()
        return "OK"
    except OSError as error:
        return errno.errorcode[error.errno]
def sock():
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.path.join(root, "supervisor.sock"))
print(json.dumps({
    "new program": attempt(lambda: open(os.path.join(root, "programs", "evil.conf"), "x").close()),
    "spec write": attempt(lambda: open(spec, "a").close()),
    "spec read": attempt(lambda: open(spec).read()),
    "supervisord.conf write": attempt(lambda: open(os.path.join(root, "supervisord.conf"), "a").close()),
    "agent state file": attempt(lambda: open(os.path.join(root, "lease.json"), "w").close()),
    "supervisord socket": attempt(sock),
}))
"""


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator() as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint).start() as running:
        yield running


@pytest.fixture(scope="module")
def engine_user():
    return pwd.getpwnam(DEFAULT_ENGINE_USER)


def ensure(agent, coordinator, key, **parameters):
    spec = pb.NodeSpec(node_key=key, cache_cluster_id=key.rsplit("-", 1)[0], cache_node_id="0001",
                       engine="redis", port=free_port(ADDRESS), max_memory_mb=64, parameters=parameters)
    agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=spec), timeout=15)
    coordinator.wait_for_node(key, pb.NODE_STATUS_AVAILABLE, timeout=10)
    return spec


def test_engines_run_as_the_engine_user_not_the_agents(agent, coordinator, engine_user):
    ensure(agent, coordinator, "uid-0001")
    engine = psutil.Process(agent.engine_pids()["uid-0001"])
    assert engine.uids().real == engine.uids().effective == engine_user.pw_uid
    assert engine.gids().real == engine_user.pw_gid
    assert psutil.Process(agent.pid).uids().real == 0
    assert f"user={DEFAULT_ENGINE_USER}\n" in agent.state.program_conf("uid-0001").read_text()


def test_the_engine_user_cannot_write_the_agents_state_nor_reach_supervisord(agent, coordinator, engine_user):
    ensure(agent, coordinator, "uid-0002")
    agent.state.lease_file.touch(exist_ok=True)     # as the agent keeps it once granted a lease
    done = subprocess.run(
        ["setpriv", f"--reuid={engine_user.pw_uid}", f"--regid={engine_user.pw_gid}", "--clear-groups",
         PROBE_PYTHON, "-I", "-c", PROBE, str(agent.state.root), str(agent.state.spec_file("uid-0002"))],
        capture_output=True, text=True, timeout=30, cwd="/")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "new program": "EACCES", "spec write": "EACCES", "spec read": "EACCES",
        "supervisord.conf write": "EACCES", "agent state file": "EACCES", "supervisord socket": "EACCES"}


def test_a_node_snapshots_and_restores_with_the_aof_on(agent, coordinator, engine_user, tmp_path):
    """The agent reads the engine's dump.rdb, and the engine loads (and appends to, seeded
    from it) the RDB the agent wrote."""
    source = ensure(agent, coordinator, "uid-0003")
    redis.Redis(ADDRESS, source.port).mset({f"k{i}": i for i in range(100)})
    store = str(tmp_path / "store")
    taken = agent.stub().TakeSnapshot(pb.TakeSnapshotRequest(
        node_key="uid-0003", store_url=store, key="uid.rdb"), timeout=20)
    assert taken.rdb_checked and taken.size > 0

    agent.stub().RestoreNodeData(pb.RestoreNodeDataRequest(
        node_key="uid-0004", store_url=store, key="uid.rdb", sha256=taken.sha256, rdb_checked=True), timeout=20)
    restored = ensure(agent, coordinator, "uid-0004", appendonly="yes")
    client = redis.Redis(ADDRESS, restored.port)
    assert client.dbsize() == 100
    client.set("after", "restore")      # the engine appends to the AOF the agent seeded
    data = agent.state.data_dir("uid-0004")
    assert {p.stat().st_uid for p in (data / "appendonlydir").iterdir()} >= {engine_user.pw_uid}
    assert (data.stat().st_mode & 0o7777, data.stat().st_gid) == (0o2770, engine_user.pw_gid)
