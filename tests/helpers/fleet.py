"""A real cachefleet on this machine for end-to-end tests.

One coordinator process and N agent processes, each agent a "host" on its own
loopback address (127.<a>.<b>.<i>, random per fleet so parallel runs never meet),
each with its own supervisord running real memcached / redis-server. Teardown
kills only what the fleet started, by PID.
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import grpc

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.identity import Role
from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from coordinator.dns import resolve_hosts_file
from coordinator.up.fleet import default_engine_paths, tls_flags

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto")])}


_HANDED_OUT: set[int] = set()

CLIENT_ROLES = (("admin", Role.ADMIN), ("operator", Role.OPERATOR), ("readonly", Role.READONLY))

CLI_ENV = ("CACHEFLEET_CA_CERT", "CACHEFLEET_CERT", "CACHEFLEET_KEY")


def free_port(address: str = "127.0.0.1") -> int:
    """A port free now and not handed out before in this test run (the kernel may give
    the same ephemeral port twice in a row once the probing socket is closed)."""
    while True:
        with socket.socket() as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Poll predicate until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" +
                         (f" (last error: {last_error!r})" if last_error else ""))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass
class Host:
    host_id: str
    address: str
    zone: str
    state_dir: pathlib.Path
    agent_port: int
    memory_mb: int
    extra_addresses: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    coordinator_endpoint: str | None = None   # reach the coordinator through this (a test proxy)

    def supervisord_pid(self) -> int | None:
        try:
            return int((self.state_dir / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def noted_write_keys(self, node_key: str) -> int | None:
        """The keys the node held at the last write its agent saw (what a restart is compared
        with; writes in the last probe period before an agent is killed go unseen)."""
        note = self.state_dir / "data" / node_key / "last-write.json"
        try:
            return json.loads(note.read_text())["keys"]
        except (OSError, ValueError):
            return None

    def engine_pids(self) -> list[int]:
        """PIDs of the engine processes under this host's supervisord (children of it)."""
        sup = self.supervisord_pid()
        if sup is None or not pid_alive(sup):
            return []
        try:
            children = pathlib.Path(f"/proc/{sup}/task/{sup}/children").read_text().split()
        except OSError:
            return []
        return [int(c) for c in children]


class Fleet:
    def __init__(self, base: pathlib.Path, hosts: int = 3, memory_mb: int = 4096, extra_addresses: int = 0,
                 host_timeout: float = 1.5, coordinator_env: dict | None = None, named=None,
                 engine_paths: list[str] | None = None, agent_env: dict | None = None,
                 coordinator_args: list[str] | None = None, stores: list[str] | None = None,
                 agent_args: list[str] | None = None):
        self.base = base
        self.coordinator_args = list(coordinator_args or [])   # more flags for the coordinator
        self.agent_args = list(agent_args or [])                # more flags for every agent
        # the object stores coordinator and agents are both configured with (--store NAME=URL
        # ...); by default `default`, the directory STATE_DIR/snapshots, as `cachefleet up` does
        self.snapshot_dir = base / "coordinator" / "snapshots"
        if stores is None:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            stores = ["--store", f"default={self.snapshot_dir}"]
        self.stores = list(stores)
        self.agent_env = agent_env or {}
        base.mkdir(parents=True, exist_ok=True)
        # more engine binaries every agent reports (--engine-path); default: scripts/setup's
        # side-by-side installs, such as /opt/cachefleet/redis-6.0.9/redis-server
        self.engine_paths = list(default_engine_paths() if engine_paths is None else engine_paths)
        self.named = named   # a tests.helpers.bind.NamedServer: publish through RFC 2136 instead of a hosts file
        prefix = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        self.hosts = []
        for i in range(1, hosts + 1):
            extra = [f"{prefix}.{100 + i * 10 + j}" for j in range(extra_addresses)]
            self.hosts.append(Host(f"host{i}", f"{prefix}.{i}", f"zone-{'abcdefgh'[(i - 1) % 8]}",
                                   base / "hosts" / f"host{i}", free_port(), memory_mb, extra))
        self.tag = secrets.token_hex(3)   # names this fleet's nftables tables apart from any other's
        self.coordinator_port = free_port()
        self.endpoint = f"127.0.0.1:{self.coordinator_port}"
        self.state_dir = base / "coordinator"
        self.hosts_file = base / "dns" / "hosts"
        self.zone = "cachefleet.test"
        self.host_timeout = host_timeout
        self.coordinator: subprocess.Popen | None = None
        self.coordinator_env = coordinator_env or {}
        self.clock_file = base / "clock-offset"      # seconds the coordinator adds to the wall clock
        # noon UTC today: outside every default maintenance window (01:00-07:00), so nothing
        # happens in a window unless a test moves the clock there
        noon = datetime.datetime.now(datetime.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        self.set_clock(noon.timestamp())
        self._channel = None
        self.stub: pb_grpc.CacheControlStub | None = None
        self._supervisord_pids: set[int] = set()
        self._engine_pids: set[int] = set()
        # the fleet's own CA, as `cachefleet up` makes one: every process talks mTLS
        self.ca = FleetCaLayout(base / "ca")
        provision(self.ca.root, coordinator_sans=["127.0.0.1"], clients=CLIENT_ROLES,
                  hosts={h.host_id: [h.address, "127.0.0.1", *h.extra_addresses] for h in self.hosts})

    def channel(self, client: str = "admin") -> grpc.Channel:
        """A channel to the coordinator with one of the fleet's client certificates
        (admin, operator or readonly)."""
        return grpc.secure_channel(self.endpoint, load_channel_credentials(self.ca.client(client)))

    def cli_env(self, client: str = "admin") -> dict[str, str]:
        """The environment a `cachefleet` command of this fleet runs in: the client certificate
        given as a user's shell gives it."""
        files = self.ca.client(client)
        return {**ENV, **dict(zip(CLI_ENV, (str(files.ca), str(files.cert), str(files.key))))}

    def agent_channel(self, host: Host) -> grpc.Channel:
        """A channel to a host's agent with the coordinator's certificate (the only caller it obeys)."""
        return grpc.secure_channel(f"127.0.0.1:{host.agent_port}", load_channel_credentials(self.ca.coordinator()))

    # -- processes -------------------------------------------------------------------------

    def start_coordinator(self, env: dict | None = None) -> None:
        log = open(self.base / "coordinator.log", "ab")
        if self.named is None:
            dns_flags = ["--dns-backend", "hostsfile", "--hosts-file", str(self.hosts_file)]
        else:
            dns_flags = ["--dns-backend", "rfc2136", "--dns-server", f"{self.named.host}:{self.named.port}",
                         "--tsig-key-name", self.named.key_name, "--tsig-secret", self.named.secret,
                         "--tsig-algorithm", self.named.algorithm]
        self.coordinator = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "--listen", self.endpoint, "--state-dir", str(self.state_dir),
             *dns_flags, "--dns-zone", self.zone, "--host-timeout", str(self.host_timeout),
             "--clock-offset-file", str(self.clock_file),
             "--heartbeat-interval", "0.2", "--reconcile-interval", "0.2", *tls_flags(self.ca.coordinator()),
             "--notification-allow-local-targets",      # the tests' webhooks listen on loopback
             "--default-security-group-ingress", "127.0.0.0/8",   # the tests' clients are on loopback
             *self.stores, *self.coordinator_args],
            env={**ENV, **self.coordinator_env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=self.base)
        if self._channel is None:
            self._channel = self.channel()
            self.stub = pb_grpc.CacheControlStub(self._channel)
        wait_for(self._coordinator_answers, 15, what="coordinator to answer")

    def _coordinator_answers(self) -> bool:
        assert self.coordinator.poll() is None, "coordinator exited"
        self.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(), timeout=1)
        return True

    def firewall_table(self, host: Host) -> str:
        """The host's nftables table: the agents share the machine's network namespace."""
        return f"cft{self.tag}_{host.host_id}"

    def remove_firewalls(self) -> None:
        for host in self.hosts:
            subprocess.run(["nft", "delete", "table", "inet", self.firewall_table(host)], capture_output=True,
                           timeout=10, check=False)

    def start_agent(self, host: Host) -> None:
        host.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.base / f"agent-{host.host_id}.log", "ab")
        cmd = [sys.executable, "-m", "nodeagent", "--address", host.address,
               "--listen", f"127.0.0.1:{host.agent_port}", "--host-id", host.host_id, "--zone", host.zone,
               "--memory-mb", str(host.memory_mb), "--coordinator", host.coordinator_endpoint or self.endpoint,
               "--state-dir", str(host.state_dir), "--heartbeat-interval", "0.2",
               "--firewall-table", self.firewall_table(host), *tls_flags(self.ca.host(host.host_id))]
        for extra in host.extra_addresses:
            cmd += ["--extra-address", extra]
        for path in self.engine_paths:
            cmd += ["--engine-path", path]
        cmd += [*self.stores, *self.agent_args]
        host.proc = subprocess.Popen(cmd, env={**ENV, **self.agent_env}, stdout=log, stderr=subprocess.STDOUT, cwd=self.base)

    def start(self) -> Fleet:
        # the CLI run in-process by tests finds the admin certificate as a user's shell would
        self._cli_env = {name: os.environ.get(name) for name in CLI_ENV}
        admin = self.ca.client("admin")
        os.environ.update(zip(CLI_ENV, (str(admin.ca), str(admin.cert), str(admin.key))))
        self.start_coordinator()
        for host in self.hosts:
            self.start_agent(host)
        wait_for(lambda: len([h for h in self.describe_hosts() if h.status == "available"]) == len(self.hosts),
                 20, what="every agent to register")
        for host in self.hosts:
            wait_for(host.supervisord_pid, 10, what=f"{host.host_id} supervisord")
            self._supervisord_pids.add(host.supervisord_pid())
        return self

    def set_clock(self, unix_time: float) -> None:
        """Make the coordinator's wall clock read `unix_time` now (it then runs on from there)."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(repr(unix_time - time.time()))
        os.replace(tmp, self.clock_file)

    def clock_offset(self) -> float:
        """Seconds the coordinator's clock is ahead of the real one (its event dates too)."""
        return float(self.clock_file.read_text())

    def kill_coordinator(self) -> None:
        if self.coordinator and self.coordinator.poll() is None:
            self.coordinator.kill()
            self.coordinator.wait(10)

    def kill_host(self, host: Host) -> None:
        """The host is gone: its agent, its supervisord and its engines, all SIGKILLed."""
        engines = host.engine_pids()
        sup = host.supervisord_pid()
        if host.proc:
            host.proc.kill()
            host.proc.wait(10)
        for pid in ([sup] if sup else []) + engines:
            kill_pid(pid)
        for pid in engines:
            wait_for(lambda: not pid_alive(pid), 10, what=f"engine {pid} to die")

    def discard(self) -> None:
        """A test's end: kill everything this fleet started at once, by PID (SIGKILL), for its
        data goes with its temporary directory; stop() is the graceful stop a restart needs."""
        self.stop(graceful=False)

    def stop(self, graceful: bool = True) -> None:
        """Kill everything this fleet started, by PID, and check nothing is left. Graceful:
        engines get SIGTERM from their supervisord (and save what they persist)."""
        for host in self.hosts:
            self._engine_pids.update(host.engine_pids())
            if host.supervisord_pid():
                self._supervisord_pids.add(host.supervisord_pid())
        for host in self.hosts:
            if host.proc and host.proc.poll() is None:
                host.proc.kill()
                host.proc.wait(10)
        for pid in self._supervisord_pids:
            kill_pid(pid, signal.SIGTERM if graceful else signal.SIGKILL)   # supervisord stops its engines on TERM
        if not graceful:
            for pid in self._engine_pids:
                kill_pid(pid)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(pid_alive(p) for p in self._supervisord_pids | self._engine_pids):
            time.sleep(0.05)
        for pid in self._supervisord_pids | self._engine_pids:
            kill_pid(pid)
        self.remove_firewalls()
        self.kill_coordinator()
        if self._channel is not None:
            self._channel.close()
        for name, value in getattr(self, "_cli_env", {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def restart(self) -> Fleet:
        """Stop every process of the fleet (as stop() does: engines get SIGTERM from their
        supervisord) and start them all again on the same state directories and ports."""
        self.stop()
        self._supervisord_pids.clear()    # dead now: never signalled again (their pids may be reused)
        self._engine_pids.clear()
        self._channel, self.stub = None, None
        return self.start()

    # -- API helpers ---------------------------------------------------------------------------

    def describe_hosts(self):
        from cachefleet.v1 import cache_control_pb2 as pbm
        return list(self.stub.DescribeHosts(pbm.DescribeHostsRequest(), timeout=2).hosts)

    def cluster(self, cluster_id: str) -> pb.CacheCluster | None:
        try:
            reply = self.stub.DescribeCacheClusters(
                pb.DescribeCacheClustersRequest(cache_cluster_id=cluster_id, show_cache_node_info=True), timeout=2)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.cache_clusters[0]

    def wait_status(self, cluster_id: str, status: str, timeout: float = 15) -> pb.CacheCluster:
        return wait_for(lambda: (c := self.cluster(cluster_id)) is not None and c.cache_cluster_status == status
                        and c, timeout, what=f"{cluster_id} to be {status}")

    def wait_gone(self, cluster_id: str, timeout: float = 15) -> None:
        wait_for(lambda: self.cluster(cluster_id) is None, timeout, what=f"{cluster_id} to be deleted")

    def resolve(self, name: str) -> list[str]:
        """The addresses a client resolving `name` gets now (hosts file, or an A query to named)."""
        if self.named is None:
            return resolve_hosts_file(self.hosts_file, name)
        return [r.address for r in self.query(name)]

    def query(self, name: str):
        """The A rrset named answers for `name` (empty on NXDOMAIN), TTL included."""
        import dns.message
        import dns.query
        import dns.rdatatype
        reply = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), self.named.host,
                              port=self.named.port, timeout=1)
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.A:
                return rrset
        return []

    def host_by_address(self, address: str) -> Host:
        return next(h for h in self.hosts if address == h.address or address in h.extra_addresses)

    def events(self, source_id: str = "") -> list[str]:
        reply = self.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier=source_id), timeout=2)
        return [e.message for e in reply.events]

    def wait_event(self, source_id: str, message: str, timeout: float = 5) -> list[str]:
        """The source's events once `message` is among them: events are recorded just after the status they follow."""
        return wait_for(lambda: message in (said := self.events(source_id)) and said, timeout,
                        what=f"event {message!r} for {source_id}")

    def all_engine_pids(self) -> list[int]:
        return [p for h in self.hosts for p in h.engine_pids()]
