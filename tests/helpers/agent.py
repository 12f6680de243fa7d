"""Start real cachefleet node agents for tests, and a fake coordinator that records heartbeats.

AgentProcess runs `python -m nodeagent` as a subprocess; its supervisord and
engines are real. FakeCoordinator is a minimal HostRegistry on port 0 that only
records what agents send: it stands in for the coordinator where the agent is
what a test examines. Processes are killed by PID, never by name.

    with FakeCoordinator() as coordinator, \\
            AgentProcess("127.0.77.5", tmp_path, coordinator.endpoint).start() as agent:
        agent.stub().EnsureNode(...)
        coordinator.wait_for_node("c1-0001", node_agent_pb2.NODE_STATUS_AVAILABLE, timeout=1.0)
"""
from __future__ import annotations

import atexit
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from typing import TypeVar
from collections.abc import Callable, Sequence

import grpc
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cachefleet.common.tls.credentials import load_channel_credentials, server_credentials
from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from nodeagent.layout import StateDir
from nodeagent.supervisor import SupervisorClient, SupervisorError, pid_alive, shutdown_supervisord

ROOT = pathlib.Path(__file__).resolve().parents[2]
T = TypeVar("T")


# --- small helpers ---

_TEST_CA: pathlib.Path | None = None


def test_ca(hosts: dict[str, list[str]] | None = None) -> FleetCaLayout:
    """One fleet CA for the test session, with a coordinator certificate for 127.0.0.1 (the
    fake coordinator, and tests that call agents as their coordinator would) and host
    certificates issued as agents ask for them, so agents of one test can call each other."""
    global _TEST_CA
    if _TEST_CA is None:
        _TEST_CA = pathlib.Path(tempfile.mkdtemp(prefix="cachefleet-test-ca-"))
        atexit.register(shutil.rmtree, _TEST_CA, True)   # the session's own: gone with it
    provision(_TEST_CA, coordinator_sans=["127.0.0.1"], hosts=hosts or {})
    return FleetCaLayout(_TEST_CA)


def tls_flags(host_id: str, addresses: list[str]) -> list[str]:
    files = test_ca({host_id: addresses}).host(host_id)
    return ["--ca-cert", str(files.ca), "--cert", str(files.cert), "--key", str(files.key)]


def coordinator_channel(endpoint: str) -> grpc.Channel:
    """A channel to an agent as its coordinator dials it (the only caller it obeys)."""
    return grpc.secure_channel(endpoint, load_channel_credentials(test_ca().coordinator()))

def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.02,
               message: str = "condition") -> T:
    """Poll predicate until it returns something truthy (returned) or raise AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message}: not reached within {timeout}s")
        time.sleep(interval)


def loopback_address(prefix: str = "127.0.77") -> str:
    """A random 127/8 address (no set-up needed on Linux), so parallel test modules do not collide."""
    return f"{prefix}.{random.randint(2, 254)}"


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on address right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def shared_port(address: str, *others: str) -> int:
    """A port free on address and on every other address (a group's nodes share one)."""
    def candidate() -> int | None:
        port = free_port(address)
        for other in others:
            with socket.socket() as sock:
                try:
                    sock.bind((other, port))
                except OSError:
                    return None
        return port
    return wait_until(candidate, timeout=2)


def plaintext_answers(address: str, port: int, line: bytes) -> bytes:
    """What a plaintext client gets for one line (b"" when the server drops it: a TLS port)."""
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.sendall(line)
            return sock.recv(100)
    except OSError:
        return b""


def port_open(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def agent_env() -> dict[str, str]:
    """Environment in which `python -m nodeagent` imports from this source tree."""
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "proto")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# --- the fake coordinator ---

class FakeCoordinator(node_agent_pb2_grpc.HostRegistryServicer):
    """A HostRegistry that records every heartbeat it answers (a fake: it decides nothing).

    It answers with the lease_ms and writable_primaries a test sets; hang() makes it
    stop answering (calls wait until the agent's deadline gives up) until answer().
    """

    def __init__(self, address: str = "127.0.0.1", port: int = 0,
                 heartbeat_interval_ms: int = 0, lease_ms: int = 0) -> None:
        self.address = address
        self.port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.lease_ms = lease_ms
        self.writable_primaries: set[str] = set()
        self.heartbeats: list[tuple[float, node_agent_pb2.HeartbeatRequest]] = []
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def Heartbeat(self, request: node_agent_pb2.HeartbeatRequest,
                  context: grpc.ServicerContext) -> node_agent_pb2.HeartbeatResponse:
        while context.is_active():  # until the agent gives up on this call
            if not self._answering.wait(0.01):
                continue
            with self._lock:
                if self._answering.is_set():  # hang() may have come in between
                    self.heartbeats.append((time.monotonic(), request))
                    return node_agent_pb2.HeartbeatResponse(
                        heartbeat_interval_ms=self.heartbeat_interval_ms, lease_ms=self.lease_ms,
                        writable_primaries=sorted(self.writable_primaries))
        return node_agent_pb2.HeartbeatResponse()

    def hang(self) -> float:
        """Stop answering heartbeats; returns when the last answered one arrived (monotonic)."""
        with self._lock:
            self._answering.clear()
            return self.heartbeats[-1][0] if self.heartbeats else 0.0

    def answer(self) -> None:
        self._answering.set()

    def start(self) -> FakeCoordinator:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        node_agent_pb2_grpc.add_HostRegistryServicer_to_server(self, self._server)
        self.port = self._server.add_secure_port(f"{self.address}:{self.port}",
                                                 server_credentials(test_ca().coordinator()))
        self._server.start()
        return self

    def stop(self) -> None:
        self._answering.set()
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def latest(self, host_id: str | None = None) -> node_agent_pb2.HeartbeatRequest | None:
        """The last heartbeat (of host_id, when given)."""
        with self._lock:
            for _, request in reversed(self.heartbeats):
                if host_id is None or request.host.host_id == host_id:
                    return request
        return None

    def node_state(self, node_key: str, host_id: str | None = None) -> node_agent_pb2.NodeState | None:
        """node_key's state in the last heartbeat (None when that heartbeat does not list it)."""
        latest = self.latest(host_id)
        if latest is None:
            return None
        return next((node for node in latest.nodes if node.node_key == node_key), None)

    def wait_for_node(self, node_key: str, status: node_agent_pb2.NodeStatus.ValueType, timeout: float,
                      host_id: str | None = None,
                      where: Callable[[node_agent_pb2.NodeState], bool] = lambda node: True
                      ) -> node_agent_pb2.NodeState:
        """Wait until the last heartbeat reports node_key with status (and where(node))."""
        def reached() -> node_agent_pb2.NodeState | None:
            node = self.node_state(node_key, host_id)
            return node if node is not None and node.status == status and where(node) else None
        try:
            return wait_until(reached, timeout, interval=0.01)
        except AssertionError:
            raise AssertionError(f"{node_key} not {node_agent_pb2.NodeStatus.Name(status)} within {timeout}s; "
                                 f"last reported: "
                                 f"{self.node_state(node_key, host_id)}") from None

    def __enter__(self) -> FakeCoordinator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the agent ---

class AgentProcess:
    """One real cachefleet-agent subprocess with its state directory (and so its supervisord)."""

    def __init__(self, address: str, state_dir: str | os.PathLike[str], coordinator: str,
                 zone: str = "local-a", memory_mb: int = 4096, host_id: str | None = None,
                 listen_port: int = 0, heartbeat_interval: float = 0.25,
                 extra_addresses: Sequence[str] = (), engine_paths: Sequence[str] = (),
                 extra_args: Sequence[str] = ()) -> None:
        self.address = address
        self.state = StateDir.at(state_dir)
        self.coordinator = coordinator
        self.zone = zone
        self.memory_mb = memory_mb
        self.host_id = host_id or address
        self.listen_port = listen_port
        self.heartbeat_interval = heartbeat_interval
        self.extra_addresses = list(extra_addresses)
        self.engine_paths = list(engine_paths)
        self.extra_args = list(extra_args)
        self.log_path = self.state.root / "agent-output.log"
        self.endpoint: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "nodeagent", "--address", self.address,
                "--listen", f"{self.address}:{self.listen_port}", "--host-id", self.host_id,
                "--zone", self.zone, "--memory-mb", str(self.memory_mb),
                "--coordinator", self.coordinator, "--state-dir", str(self.state.root),
                "--heartbeat-interval", str(self.heartbeat_interval)]
        for extra in self.extra_addresses:
            argv += ["--extra-address", extra]
        for path in self.engine_paths:
            argv += ["--engine-path", path]
        return argv + tls_flags(self.host_id, [self.address, *self.extra_addresses]) + self.extra_args

    def start(self, timeout: float = 20.0) -> AgentProcess:
        """Start the agent and wait until its gRPC server reports SERVING."""
        assert not self.alive(), "agent already running"
        self.state.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as output:
            self._process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=output,
                                             stderr=subprocess.STDOUT, env=agent_env(), cwd=ROOT)
        self.endpoint = wait_until(self._serving_endpoint, timeout, interval=0.02,
                                   message=f"agent serving (log: {self.log_path})")
        return self

    def _serving_endpoint(self) -> str | None:
        if not self.alive():
            raise AssertionError(f"agent exited with {self._process.returncode}: {self.log_tail()}")
        try:
            info = json.loads(self.state.agent_info.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if info.get("pid") != self.pid:
            return None  # written by an earlier run
        with coordinator_channel(info["endpoint"]) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="cachefleet.v1.NodeAgent"), timeout=1.0)
            except grpc.RpcError:
                return None
        return info["endpoint"] if reply.status == health_pb2.HealthCheckResponse.SERVING else None

    def stub(self) -> node_agent_pb2_grpc.NodeAgentStub:
        """A NodeAgent client of the running agent (the channel is closed by kill/stop/shutdown)."""
        assert self.endpoint, "agent not started"
        if self._channel is None:
            self._channel = coordinator_channel(self.endpoint)
        return node_agent_pb2_grpc.NodeAgentStub(self._channel)

    def kill(self) -> None:
        """SIGKILL the agent (by its pid); supervisord and the engines keep running."""
        self._close_channel()
        if self.alive():
            self._process.send_signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the agent and wait for its graceful exit; returns its exit code."""
        self._close_channel()
        if self.alive():
            self._process.send_signal(signal.SIGTERM)
        return self._process.wait(timeout=timeout) if self._process is not None else None

    def engine_pids(self) -> dict[str, int]:
        """program (node_key) → pid (0 when not running), as the agent's supervisord says."""
        client = SupervisorClient(self.state.supervisor_sock, timeout=5.0)
        try:
            return {info["name"]: info["pid"] for info in client.call("supervisor.getAllProcessInfo")}
        finally:
            client.close()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Kill the agent, shut its supervisord down and make sure no engine it ran is left."""
        self.kill()
        try:
            pids = [pid for pid in self.engine_pids().values() if pid]
        except SupervisorError:
            pids = []
        stopped = shutdown_supervisord(self.state.root, timeout)
        leftovers = [pid for pid in pids if pid_alive(pid)]
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        if not stopped or leftovers:
            raise AssertionError(f"supervisord stopped: {stopped}; engines left running: {leftovers}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
