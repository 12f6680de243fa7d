"""`cachefleet up`: it starts a fleet, keeps it running, and leaves no process behind.

Two tiers: stand-in children (tiny Python programs that behave like a coordinator and
agents, including one that ignores SIGTERM and daemons that escape their parent the way
supervisord does) prove the process handling on its own; the real coordinator, agents,
supervisords and memcached prove the whole thing, restart included.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.localfleet import FleetCaLayout
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from coordinator.cli import main as cli
from coordinator.up import fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "proto")]))


# --- helpers ---

def free_port(*hosts: str) -> int:
    """A port free on every one of hosts (127.0.0.1 when none)."""
    hosts = hosts or ("127.0.0.1",)
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no common free port")


def alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until(predicate, timeout: float, what: str, log: pathlib.Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")


def pidfile_pids(state_dir: pathlib.Path) -> set[int]:
    pids = set()
    for path in state_dir.rglob("*.pid"):
        try:
            pids.add(int(path.read_text().strip()))
        except (OSError, ValueError):
            pass
    return pids


class Up:
    """One `cachefleet up` (or stand-in fleet) subprocess; killed with its tree at teardown."""

    def __init__(self, argv: list[str], state_dir: pathlib.Path, log: pathlib.Path) -> None:
        self.state_dir, self.log = state_dir, log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)

    def wait_banner(self, timeout: float = 30) -> None:
        def banner():
            assert self.proc.poll() is None, f"up exited with {self.proc.returncode}\n{self.log.read_text()}"
            return "cachefleet is up" in self.log.read_text()
        wait_until(banner, timeout, "the banner", self.log)

    def pids(self) -> set[int]:
        """Everything it started: its descendants (it is their subreaper) and the pidfiles."""
        return {self.proc.pid, *fleet.descendants(self.proc.pid), *pidfile_pids(self.state_dir)}

    def stop(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            for pid in [self.proc.pid, *fleet.descendants(self.proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)


@pytest.fixture
def ups():
    started: list[Up] = []
    yield started
    for up in started:
        up.kill()


def assert_all_gone(pids: set[int], log: pathlib.Path, timeout: float = 10) -> None:
    wait_until(lambda: not [p for p in pids if alive(p)], timeout,
               f"every process to be gone; left: {[(p, fleet.cmdline(p)) for p in pids if alive(p)]}", log)


# --- stand-ins ---

STANDIN_COORDINATOR = """
import pathlib, signal, sys, threading
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2_grpc
from cachefleet.common.tls.credentials import server_credentials
from cachefleet.common.tls.files import CredentialFiles
if sys.argv[2] == "fail":
    print("stand-in coordinator: cannot start", file=sys.stderr)
    sys.exit(2)
server = grpc.server(futures.ThreadPoolExecutor(2))
health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
server.add_secure_port(sys.argv[1], server_credentials(CredentialFiles(*map(pathlib.Path, sys.argv[3:6]))))
server.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
done.wait()
server.stop(0)
"""

# mode: "calm" exits on SIGTERM; "crash" dies once soon after its first start;
# "stubborn" ignores SIGTERM, and so does its daemon. On its first start each agent leaves
# a daemon behind in its own session, as the real agent does with supervisord.
STANDIN_AGENT = """
import os, pathlib, signal, sys, time
state, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
starts = state / "starts"
n = int(starts.read_text()) + 1 if starts.exists() else 1
starts.write_text(str(n))
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if n == 1:
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            (state / "daemon.pid").write_text(str(os.getpid()))
            while True:
                time.sleep(1)
        os._exit(0)
    os.waitpid(middle, 0)
if mode == "crash" and n == 1:
    time.sleep(0.3)
    sys.exit(3)
while True:
    time.sleep(1)
"""

STANDIN_FLEET = """
import json, pathlib, sys
from coordinator.up.fleet import Fleet, FleetConfig
from cachefleet.common.logs import configure_logging
spec = json.loads(sys.argv[1])

class StandIns(Fleet):
    def coordinator_argv(self):
        files = self.ca.coordinator()
        return [sys.executable, "-c", spec["coordinator"], self.config.listen, spec["coordinator_mode"],
                str(files.cert), str(files.key), str(files.ca)]
    def agent_argv(self, host):
        return [sys.executable, "-c", spec["agent"], str(host.state_dir), spec["modes"][host.index - 1]]
    def shutdown_supervisord(self, host, timeout):
        return True  # nothing to shut cleanly: the daemons are the final sweep's

configure_logging("console")
config = FleetConfig(state_dir=pathlib.Path(spec["state_dir"]), hosts=3, host_memory_mb=64, query_api_listen="127.0.0.1:0",
                     listen=spec["listen"], agent_port=spec["agent_port"], ready_timeout=20,
                     stop_timeout=1.0, restart_backoff=0.2)
sys.exit(StandIns(config).run())
"""


def standin_fleet(tmp_path: pathlib.Path, modes: list[str], coordinator_mode: str = "serve") -> Up:
    state_dir = tmp_path / "state"
    spec = dict(coordinator=STANDIN_COORDINATOR, agent=STANDIN_AGENT, modes=modes,
                coordinator_mode=coordinator_mode, state_dir=str(state_dir),
                listen=f"127.0.0.1:{free_port()}",
                agent_port=free_port("127.0.1.1", "127.0.1.2", "127.0.1.3"))
    return Up([sys.executable, "-c", STANDIN_FLEET, json.dumps(spec)], state_dir, tmp_path / "up.log")


def test_up_restarts_a_dead_child_and_stops_everything_even_the_stubborn(tmp_path, ups):
    up = standin_fleet(tmp_path, ["crash", "stubborn", "calm"])
    ups.append(up)
    up.wait_banner()
    host1 = up.state_dir / "hosts" / "host1"
    wait_until(lambda: (host1 / "starts").exists() and (host1 / "starts").read_text() == "2",
               10, "host1's agent to be restarted", up.log)
    daemons = {int((up.state_dir / "hosts" / f"host{i}" / "daemon.pid").read_text()) for i in (1, 2, 3)}
    pids = up.pids()
    assert daemons <= pids, "the daemons the agents left are below up (it is their subreaper)"
    assert len(pids) >= 1 + 1 + 3 + 3

    assert up.stop() == 0
    assert_all_gone(pids, up.log)
    log = up.log.read_text()
    assert "agent host1 exited with code 3" in log and "restarting agent host1" in log
    assert "agent host2 did not stop within 1 s: SIGKILL" in log
    assert "left behind" in log
    assert not list((up.state_dir / "run").glob("*.pid")), "up removes its pidfiles"


def test_up_refuses_a_state_dir_another_up_is_using(tmp_path, ups):
    up = standin_fleet(tmp_path, ["calm", "calm", "calm"])
    ups.append(up)
    up.wait_banner()
    second = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(up.state_dir),
         "--listen", f"127.0.0.1:{free_port()}", "--agent-port", str(free_port("127.0.1.1")),
         "--query-api-listen", f"127.0.0.1:{free_port()}"],
        env=ENV, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert second.returncode == 1
    assert f"another `cachefleet up` (pid {up.proc.pid}) runs on" in second.stderr
    assert up.proc.poll() is None, "the first one is left alone"
    pids = up.pids()
    assert up.stop() == 0
    assert_all_gone(pids, up.log)


def test_a_coordinator_that_cannot_start_stops_up_with_its_reason(tmp_path, ups):
    up = standin_fleet(tmp_path, ["calm", "calm", "calm"], coordinator_mode="fail")
    ups.append(up)
    assert up.proc.wait(30) == 1
    log = up.log.read_text()
    assert "the coordinator exited with code 2 before it answered health checks" in log
    daemons = {int(p.read_text()) for p in up.state_dir.glob("hosts/*/daemon.pid")}
    assert_all_gone(daemons | pidfile_pids(up.state_dir), up.log)


def test_up_names_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(tmp_path / "s"),
             "--listen", f"127.0.0.1:{port}", "--agent-port", str(free_port("127.0.1.1")),
             "--query-api-listen", f"127.0.0.1:{free_port()}"],
            env=ENV, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1
    assert f"cannot use 127.0.0.1:{port}" in result.stderr and "--listen" in result.stderr


def test_up_runs_the_processes_the_design_names(tmp_path):
    config = fleet.FleetConfig(state_dir=tmp_path, hosts=3, host_memory_mb=512,
                               listen="127.0.0.1:7420", agent_port=7421, extra_addresses=1)
    f = fleet.Fleet(config)
    assert f.coordinator.argv == [
        sys.executable, "-m", "coordinator", "--listen", "127.0.0.1:7420",
        "--state-dir", str(tmp_path / "coordinator"), "--dns-backend", "hostsfile",
        "--dns-zone", "cachefleet.internal", "--hosts-file", str(tmp_path / "dns" / "hosts"),
        "--notification-allow-local-targets", *config.store_flags(), "--node-ca-dir", str(tmp_path / "ca"),
        "--secrets-key-file", str(tmp_path / "coordinator" / "secrets.key"),
        "--default-security-group-ingress", "127.0.0.0/8", "--query-api-listen", "127.0.0.1:7480",
        "--log-format", "console", "--ca-cert", str(tmp_path / "ca" / "coordinator" / "ca.crt"),
        "--cert", str(tmp_path / "ca" / "coordinator" / "coordinator.crt"),
        "--key", str(tmp_path / "ca" / "coordinator" / "coordinator.key")]
    assert f.agents[1].argv == [
        sys.executable, "-m", "nodeagent", "--address", "127.0.1.2", "--listen", "127.0.1.2:7421",
        "--host-id", "host2", "--zone", "local-b", "--memory-mb", "512",
        "--coordinator", "127.0.0.1:7420", "--state-dir", str(tmp_path / "hosts" / "host2"),
        "--log-format", "console", "--extra-address", "127.0.2.2", *config.store_flags(),
        "--firewall-table", "cachefleet_host2",
        "--ca-cert", str(tmp_path / "ca" / "hosts" / "host2" / "ca.crt"),
        "--cert", str(tmp_path / "ca" / "hosts" / "host2" / "host2.crt"),
        "--key", str(tmp_path / "ca" / "hosts" / "host2" / "host2.key")]
    assert [fleet.zone_name(i) for i in (0, 2, 25, 26)] == ["local-a", "local-c", "local-z", "local-aa"]
    assert fleet.FleetConfig(state_dir=tmp_path, hosts=4).memory_mb == fleet.mem_total_mb() // 4


def test_up_insecure_runs_every_part_plaintext_and_says_so(tmp_path):
    config = fleet.FleetConfig(state_dir=tmp_path, hosts=2, host_memory_mb=512, listen="127.0.0.1:7420",
                               agent_port=7421, insecure=True)
    f = fleet.Fleet(config)
    for child in (f.coordinator, *f.agents):
        assert child.argv[-1] == "--insecure" and "--cert" not in child.argv
    assert "PLAINTEXT" in f.banner() and "CACHEFLEET_INSECURE=1" in f.banner()
    assert "http://127.0.0.1:7480" in f.banner() and "--ca-bundle" not in f.banner()
    secure = fleet.Fleet(fleet.FleetConfig(state_dir=tmp_path, hosts=2)).banner()
    assert "mutual TLS" in secure
    assert f"--endpoint-url https://127.0.0.1:7480 --ca-bundle {tmp_path / 'ca' / 'ca.crt'}" in secure
    assert "endpoint_url = https://127.0.0.1:7480" in secure


# --- the real thing ---

def real_up(state_dir: pathlib.Path, log: pathlib.Path, listen: str, agent_port: int) -> Up:
    return Up([sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(state_dir),
               "--hosts", "3", "--host-memory-mb", "1024", "--listen", listen,
               "--agent-port", str(agent_port), "--extra-addresses", "0",
               "--query-api-listen", f"127.0.0.1:{free_port()}"], state_dir, log)


def describe(endpoint: str, cluster_id: str, state_dir: pathlib.Path) -> pb.CacheCluster | None:
    """DescribeCacheClusters with the admin certificate `up` made under its state directory."""
    credentials = load_channel_credentials(FleetCaLayout.of_state_dir(state_dir).client())
    with grpc.secure_channel(endpoint, credentials) as channel:
        try:
            answer = pb_grpc.CacheControlStub(channel).DescribeCacheClusters(
                pb.DescribeCacheClustersRequest(cache_cluster_id=cluster_id, show_cache_node_info=True),
                timeout=5)
        except grpc.RpcError:
            return None
    return answer.cache_clusters[0] if answer.cache_clusters else None


def test_up_serves_clusters_stops_every_process_and_brings_them_back(tmp_path, ups, capsys, monkeypatch):
    state_dir, log = tmp_path / "state", tmp_path / "up.log"
    monkeypatch.setenv("CACHEFLEET_STATE_DIR", str(state_dir))   # where the CLI finds its certificate
    hosts = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
    listen = f"127.0.0.1:{free_port()}"
    agent_port, engine_port = free_port(*hosts), free_port(*hosts)

    up = real_up(state_dir, log, listen, agent_port)
    ups.append(up)
    up.wait_banner()
    code = cli.main(["create-cache-cluster", "--cache-cluster-id", "c1", "--engine", "memcached",
                     "--cache-node-type", "cache.t1.micro", "--num-cache-nodes", "3",
                     "--port", str(engine_port), "--wait", "--wait-timeout", "20", "--endpoint", listen])
    assert code == 0, capsys.readouterr().err + log.read_text()[-3000:]
    pids = up.pids()
    commands = [fleet.cmdline(p) for p in pids]
    assert sum("nodeagent" in c for c in commands) == 3
    assert sum("supervisord" in c for c in commands) == 3
    assert sum(c.startswith("/usr/bin/memcached") for c in commands) == 3, commands
    assert up.stop() == 0
    assert_all_gone(pids, log)

    again = real_up(state_dir, log, listen, agent_port)
    ups.append(again)
    again.wait_banner()

    def back():
        cluster = describe(listen, "c1", state_dir)
        return (cluster is not None and cluster.cache_cluster_status == "available"
                and [n.cache_node_status for n in cluster.cache_nodes] == ["available"] * 3)
    wait_until(back, 20, "c1 to be available again with its 3 nodes", log)
    pids = again.pids()
    assert again.stop() == 0
    assert_all_gone(pids, log)
