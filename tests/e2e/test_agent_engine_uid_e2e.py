"""Engines run as a user of their own (cachefleet-engine), not the agent's: a real agent as
root, its supervisord dropping to that user, and a process of that uid trying the agent's
state and supervisord's socket. Root only (switching uids needs it)."""
from __future__ import annotations

import configparser
import json
import os
import pwd
import signal
import subprocess
import sys

import psutil
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb

from cachefleet.common.system_users import DEFAULT_ENGINE_USER
from nodeagent.layout import write_atomic
from nodeagent.prepare import prepare
from nodeagent.supervisor import SupervisorClient, SupervisorError, pid_alive, program_conf
from tests.helpers.agent import ROOT, AgentProcess, FakeCoordinator, agent_env, free_port, loopback_address, wait_until

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
    store = tmp_path_factory.mktemp("store")
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint,
                      extra_args=["--store", f"local={store}"]).start() as running:
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
    taken = agent.stub().TakeSnapshot(pb.TakeSnapshotRequest(
        node_key="uid-0003", store="local", key="uid.rdb"), timeout=20)
    assert taken.size > 0

    agent.stub().RestoreNodeData(pb.RestoreNodeDataRequest(
        node_key="uid-0004", store="local", key="uid.rdb", sha256=taken.sha256), timeout=20)
    restored = ensure(agent, coordinator, "uid-0004", appendonly="yes")
    client = redis.Redis(ADDRESS, restored.port)
    assert client.dbsize() == 100
    client.set("after", "restore")      # the engine appends to the AOF the agent seeded
    data = agent.state.data_dir("uid-0004")
    assert {p.stat().st_uid for p in (data / "appendonlydir").iterdir()} >= {engine_user.pw_uid}
    assert (data.stat().st_mode & 0o7777, data.stat().st_gid) == (0o2770, engine_user.pw_gid)


def supervisord_unit() -> configparser.SectionProxy:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / "cachefleet-supervisord.service")
    return parser["Service"]


def test_supervisord_with_only_its_units_capabilities_runs_and_stops_engines_as_the_engine_user(
        tmp_path, engine_user):
    """supervisord as its unit runs it: uid 0, the agent's group (`daemon` stands for
    cachefleet here), no capability beyond the unit's bounding set, files the agent's."""
    unit = supervisord_unit()
    assert "User" not in unit and unit["Group"] == "cachefleet"
    caps = ",".join(f"+{cap.removeprefix('CAP_').lower()}" for cap in unit["CapabilityBoundingSet"].split())
    agent_user = pwd.getpwnam("daemon")
    state = prepare(str(tmp_path / "agent"), agent_user.pw_name, engine_user.pw_name)
    data = state.make_data_dir("sv-1")
    os.chown(data, agent_user.pw_uid, -1)                 # as the agent makes it
    port = free_port()
    program = state.program_conf("sv-1")
    write_atomic(program, program_conf(
        "sv-1", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""],
        data, state.engine_log("sv-1"), user=engine_user.pw_name), mode=0o640)
    os.chown(program, agent_user.pw_uid, agent_user.pw_gid)
    supervisord = subprocess.Popen(
        ["setpriv", f"--regid={agent_user.pw_gid}", "--clear-groups", f"--bounding-set=-all,{caps}",
         "--inh-caps=-all", "--no-new-privs", sys.executable, "-m", "supervisor.supervisord", "--nodaemon",
         "--configuration", str(state.supervisord_conf)],
        env=agent_env(), cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = SupervisorClient(state.supervisor_sock, timeout=5)
    engine_pid = 0
    try:
        def running() -> int:
            try:
                info = client.call("supervisor.getProcessInfo", "sv-1")
            except SupervisorError:
                return 0
            return info["pid"] if info["statename"] == "RUNNING" else 0
        engine_pid = wait_until(running, 10, message="the engine RUNNING under supervisord")
        assert psutil.Process(engine_pid).uids().real == engine_user.pw_uid
        sock = state.supervisor_sock.stat()
        assert (sock.st_uid, sock.st_gid, sock.st_mode & 0o777) == (agent_user.pw_uid, agent_user.pw_gid, 0o770)
        client.call("supervisor.stopProcess", "sv-1", True)      # a signal to another uid: CAP_KILL
        assert not pid_alive(engine_pid)
        client.call("supervisor.shutdown")
        supervisord.wait(timeout=10)
    finally:
        client.close()
        if supervisord.poll() is None:
            supervisord.kill()
            supervisord.wait()
        if engine_pid and pid_alive(engine_pid):
            os.kill(engine_pid, signal.SIGKILL)
