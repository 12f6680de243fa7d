"""`cachefleet up --coordinators 3` run by a test: three coordinators on a three-member etcd
and three agents, on free ports, state in a temporary directory. It finds who leads (the
leadership key in etcd), the pid `up` recorded for each child, the engine listening on an
address, and stops `up` at the end (every process it started goes with it; what is left is
killed by PID)."""
from __future__ import annotations

import os
import pathlib
import random
import signal
import socket
import subprocess
import sys

import grpc
import psutil

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.localfleet import FleetCaLayout
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from coordinator.dns import resolve_hosts_file
from coordinator.up import control
from coordinator.up.fleet import DNS_ZONE
from tests.helpers.clusters import listens_on
from tests.helpers.fleet import ENV, ROOT, free_port, pid_alive, wait_for

HOSTS = ("127.0.1.1", "127.0.1.2", "127.0.1.3")


def free_port_run(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1."""
    for _ in range(200):
        first = random.randrange(20000, 32000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports")


def free_port_on(*addresses: str) -> int:
    """A port free on every one of addresses."""
    for _ in range(200):
        port = free_port(addresses[0])
        try:
            for address in addresses[1:]:
                with socket.socket() as probe:
                    probe.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


class CoordinatedUp:
    def __init__(self, base: pathlib.Path, coordinators: int = 3) -> None:
        self.base = base
        self.state_dir = base / "state"
        self.log = base / "up.log"
        self.count = coordinators
        self.listens = [f"127.0.0.1:{free_port()}" for _ in range(coordinators)]
        self.etcd_port = free_port_run(2 * coordinators)
        self.etcd = control.members(self.state_dir / "etcd", coordinators, self.etcd_port)
        self.argv = [sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(self.state_dir),
                     "--coordinators", str(coordinators), "--hosts", str(len(HOSTS)), "--host-memory-mb", "1024",
                     "--listen", ",".join(self.listens), "--etcd-port", str(self.etcd_port),
                     "--query-api-listen", ",".join(f"127.0.0.1:{free_port()}" for _ in range(coordinators)),
                     "--agent-port", str(free_port_on(*HOSTS)), "--extra-addresses", "0"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return ",".join(self.listens)

    @property
    def ca(self) -> FleetCaLayout:
        return FleetCaLayout.of_state_dir(self.state_dir)

    def start(self, timeout: float = 60) -> str:
        """Start `up` and wait for its banner; the banner."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)

        def banner() -> str | None:
            assert self.proc is not None and self.proc.poll() is None, \
                f"up exited with {self.proc and self.proc.returncode}\n{self.log_tail()}"
            text = self.log.read_text(errors="replace")
            return text[text.index("cachefleet is up"):] if "In another terminal" in text else None
        return wait_for(banner, timeout, interval=0.1, what=f"the banner of `up` (log {self.log})")

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    # who runs what

    def leader(self) -> str | None:
        return control.leader(self.etcd, self.ca.coordinator())

    def pid(self, child: str) -> int | None:
        """The pid `up` recorded for its child (coordinator2, etcd1, agent-host1), if alive."""
        try:
            pid = int((self.state_dir / "run" / f"{child}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def engine_pid(self, address: str, port: int) -> int:
        """The engine listening on address:port: a child of one host's supervisord."""
        for host in (self.state_dir / "hosts").iterdir():
            try:
                supervisord = int((host / "supervisord.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            for child in psutil.Process(supervisord).children():
                if listens_on(child.pid, address, port):
                    return child.pid
        raise AssertionError(f"no engine listens on {address}:{port}")

    def resolve(self, name: str) -> list[str]:
        return resolve_hosts_file(self.state_dir / "dns" / "hosts", name)

    def name(self, short: str) -> str:
        return f"{short}.{DNS_ZONE}" if not short.endswith(DNS_ZONE) else short

    # the API, on whichever coordinator serves

    def channel(self, endpoint: str) -> grpc.Channel:
        return grpc.secure_channel(endpoint, load_channel_credentials(self.ca.client()))

    def call(self, method: str, request, timeout: float = 5.0):
        """The call answered by the first coordinator that answers it (the others are standbys:
        not listening, or answering that they do not lead)."""
        errors = []
        for endpoint in self.listens:
            with self.channel(endpoint) as channel:
                try:
                    return getattr(pb_grpc.CacheControlStub(channel), method)(request, timeout=timeout)
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION,
                                          grpc.StatusCode.DEADLINE_EXCEEDED):
                        raise
                    errors.append(f"{endpoint}: {exc.code().name}")
        raise AssertionError(f"no coordinator answered {method}: {errors}")

    def group(self, group_id: str) -> pb.ReplicationGroup:
        return self.call("DescribeReplicationGroups",
                         pb.DescribeReplicationGroupsRequest(replication_group_id=group_id)).replication_groups[0]

    # stopping

    def descendants(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to `up`; its exit code once it stopped everything."""
        assert self.proc is not None
        below = self.descendants()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        wait_for(lambda: not [p for p in below if pid_alive(p)], 10, what="every process of `up` gone")
        return code

    def kill(self) -> None:
        """Teardown whatever happened: `up` and everything below it, by PID."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.stop(timeout=40)
            return
        except (subprocess.TimeoutExpired, AssertionError):
            pass
        for pid in [self.proc.pid, *self.descendants()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
