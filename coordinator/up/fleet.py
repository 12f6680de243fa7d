"""`cachefleet up`: a whole fleet on this machine, in the foreground, under one state directory.

    DIR/coordinator/      the coordinator's store        DIR/run/up.lock    one `up` per DIR
    DIR/dns/hosts         the zone, hosts-file format     DIR/run/*.pid      what `up` started
    DIR/hosts/host<i>/    agent i: supervisord, engines
    DIR/coordinator/snapshots/   the object store `default` of the coordinator and every agent

It starts `python -m coordinator` and N `python -m nodeagent` (host i on 127.0.1.i,
zone local-a, local-b, ...), waits until the coordinator answers gRPC health checks,
and prints how to use it. Each child runs in its own session, so Ctrl-C reaches only
`up`, which then stops things in order: agents (SIGTERM), each host's supervisord and
its engines, the coordinator; whatever is still alive at a deadline is SIGKILLed by
pid. `up` makes itself a child subreaper, so the supervisords the agents daemonize (and
their engines) stay its descendants: a final sweep leaves no process behind. Started
again on the same DIR, the same processes come back and the coordinator restores the
clusters from its store.

With --coordinators 3 (or 5) the control plane is an etcd of as many members and as many
coordinators on it (coordinator/up/control.py): etcd first, then the coordinators and the
agents; ready when one coordinator (the leader) answers and every agent registered.

A child that dies while the fleet runs is logged and restarted, with a back-off (1 s
doubling to 30 s, reset after a minute of good health), as systemd's Restart=on-failure
would; a coordinator that lost the leadership (exit status 3) is started again at once, as a
standby. The exception is a coordinator (or etcd member) that dies before the fleet was ready:
that is a configuration problem (a port in use, a bad state dir) and `up` stops with its exit code.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import dataclasses
import fcntl
import os
import pathlib
import signal
import socket
import string
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable

import grpc
import psutil
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cachefleet.v1 import cache_control_pb2, cache_control_pb2_grpc, node_agent_pb2
from cachefleet.common.logs import configure_logging
from cachefleet.common.system_users import DEFAULT_ENGINE_USER, ensure_user, first_closed
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from coordinator.up import control

HOST_REGISTRY = node_agent_pb2.DESCRIPTOR.services_by_name["HostRegistry"].full_name

SUMMARY = "Run a local fleet in the foreground: a coordinator and N agents on 127.0.1.x."
DEFAULT_LISTEN = "127.0.0.1:7420"
DEFAULT_QUERY_API_LISTEN = "127.0.0.1:7480"   # ElastiCache's Query API (boto3, aws-cli), HTTPS
DEFAULT_AGENT_PORT = 7421
DNS_ZONE = "cachefleet.internal"
SNAPSHOT_STORE = "default"   # the name coordinator and agents give the store (the coordinator's default name)
MAX_HOSTS = 254
LEADER_CHECK = 0.5   # seconds between looks at who leads the coordinators on etcd
# Engines installed side by side, one directory each (scripts/setup puts redis 6.0.9 in
# /opt/cachefleet/redis-6.0.9/): every host of a local fleet reports them beside those on PATH.
SIDE_BY_SIDE_ENGINES = pathlib.Path("/opt/cachefleet")
ENGINE_BINARIES = ("redis-server", "memcached")

log = structlog.get_logger("cachefleet.up")


# --- configuration ---

def default_state_dir() -> str:
    return os.environ.get("CACHEFLEET_STATE_DIR") or "./state"


def mem_total_mb() -> int:
    return psutil.virtual_memory().total // 2**20


def zone_name(index: int) -> str:
    """0 → local-a, 25 → local-z, 26 → local-aa: one zone per host."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = string.ascii_lowercase[rest] + letters
    return f"local-{letters}"


def default_engine_paths(root: pathlib.Path = SIDE_BY_SIDE_ENGINES) -> tuple[str, ...]:
    """The engine binaries under root/<dir>/ (e.g. /opt/cachefleet/redis-6.0.9/redis-server)."""
    found = [path for path in sorted(root.glob("*/*"))
             if path.name in ENGINE_BINARIES and path.is_file() and os.access(path, os.X_OK)]
    return tuple(str(path) for path in found)


def split_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


@dataclasses.dataclass(frozen=True)
class Host:
    index: int               # 1-based
    state_dir: pathlib.Path
    agent_port: int

    @property
    def host_id(self) -> str:
        return f"host{self.index}"

    @property
    def address(self) -> str:
        return f"127.0.1.{self.index}"

    @property
    def zone(self) -> str:
        return zone_name(self.index - 1)

    @property
    def listen(self) -> str:
        return f"{self.address}:{self.agent_port}"

    def extra_addresses(self, count: int) -> list[str]:
        """127.0.2.i, 127.0.3.i, ...: more addresses of host i, so that one host can hold
        several nodes of a cluster (they all listen on the cluster's one port)."""
        return [f"127.0.{1 + j}.{self.index}" for j in range(1, count + 1)]


@dataclasses.dataclass(frozen=True)
class FleetConfig:
    state_dir: pathlib.Path
    hosts: int = 3
    host_memory_mb: int = 0            # 0: MemTotal // hosts
    listen: str = DEFAULT_LISTEN
    agent_port: int = DEFAULT_AGENT_PORT
    extra_addresses: int = 3
    engine_paths: tuple[str, ...] = ()   # more engine binaries for every agent (--engine-path)
    log_format: str = "console"
    ready_timeout: float = 60.0
    stop_timeout: float = 10.0         # per step: agents, supervisords, coordinator, the sweep
    restart_backoff: float = 1.0
    restart_backoff_max: float = 30.0
    insecure: bool = False             # plaintext gRPC everywhere (--insecure): benchmarks' baseline only
    query_api_listen: str = DEFAULT_QUERY_API_LISTEN
    coordinators: int = 1              # 3 or 5: as many coordinators on an etcd of as many members
    etcd_port: int = control.DEFAULT_ETCD_PORT   # member k: clients on this + 2 (k - 1), peers the next
    leader_lease: int = 0              # on etcd: the coordinators' leader lease (0: theirs, 3 s)

    @property
    def on_etcd(self) -> bool:
        return self.coordinators > 1

    def coordinator_listens(self) -> list[str]:
        """Where each coordinator serves (one or, on etcd, one per coordinator: control.py)."""
        return control.spread(self.listen, self.coordinators, control.COORDINATOR_PORT_STEP)

    def query_api_listens(self) -> list[str]:
        return control.spread(self.query_api_listen, self.coordinators, 1)

    @property
    def endpoint(self) -> str:
        """What the CLI and the agents are given: every coordinator, comma-separated."""
        return ",".join(self.coordinator_listens())

    def query_api_url_of(self, index: int = 0) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.query_api_listens()[index]}"

    @property
    def query_api_url(self) -> str:
        return self.query_api_url_of(0)

    @property
    def memory_mb(self) -> int:
        return self.host_memory_mb or max(1, mem_total_mb() // self.hosts)

    @property
    def coordinator_dir(self) -> pathlib.Path:
        return self.state_dir / "coordinator"

    @property
    def snapshot_dir(self) -> pathlib.Path:
        """The object store `default`: one directory every process of this machine's fleet
        is configured with (--store), where a fleet of several machines names an S3 bucket."""
        return self.coordinator_dir / "snapshots"

    def store_flags(self) -> list[str]:
        return ["--store", f"{SNAPSHOT_STORE}={self.snapshot_dir.resolve()}"]

    @property
    def dns_hosts_file(self) -> pathlib.Path:
        return self.state_dir / "dns" / "hosts"

    @property
    def run_dir(self) -> pathlib.Path:
        return self.state_dir / "run"

    def host_list(self) -> list[Host]:
        return [Host(i, self.state_dir / "hosts" / f"host{i}", self.agent_port)
                for i in range(1, self.hosts + 1)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=None, metavar="DIR",
                        help="everything the fleet keeps (env CACHEFLEET_STATE_DIR; default ./state)")
    parser.add_argument("--hosts", type=int, default=3, metavar="N", help="agents to run (default 3)")
    parser.add_argument("--host-memory-mb", type=int, default=0, metavar="M",
                        help="memory each host offers (default: MemTotal / N)")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"the coordinator's API address (default {DEFAULT_LISTEN})")
    parser.add_argument("--query-api-listen", default=DEFAULT_QUERY_API_LISTEN, metavar="HOST:PORT",
                        help="where the coordinator serves ElastiCache's Query API, for boto3 and aws-cli "
                             f"(default {DEFAULT_QUERY_API_LISTEN})")
    parser.add_argument("--agent-port", type=int, default=DEFAULT_AGENT_PORT, metavar="PORT",
                        help=f"the port each agent listens on, on its own 127.0.1.i (default {DEFAULT_AGENT_PORT})")
    parser.add_argument("--extra-addresses", type=int, default=3, metavar="K",
                        help="more loopback addresses per host (127.0.2.i, ...), so that a cluster "
                             "can have more nodes than there are hosts (default 3)")
    parser.add_argument("--engine-path", action="append", default=None, metavar="PATH",
                        help="an engine binary (or a directory of them) every agent offers beside "
                             f"those on PATH; repeat for more (default: those under {SIDE_BY_SIDE_ENGINES}/*/)")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.add_argument("--insecure", action="store_true",
                        help="plaintext gRPC between every part, no certificates: anyone who reaches a "
                             "port can call it as anyone. Only for measuring what mTLS costs")
    parser.add_argument("--coordinators", type=int, choices=control.COORDINATOR_COUNTS, default=1, metavar="N",
                        help="1 (default): one coordinator on a SQLite file; 3 or 5: as many coordinators on "
                             "an etcd of as many members on 127.0.0.1, one leading, each restarted when it "
                             "dies (--listen and --query-api-listen then take one HOST:PORT, whose port is "
                             "the first of several, or N of them, comma-separated)")
    parser.add_argument("--etcd-port", type=int, default=control.DEFAULT_ETCD_PORT, metavar="PORT",
                        help="with --coordinators N: etcd member k listens on 127.0.0.1, port PORT + 2 (k - 1) "
                             f"for clients and the next for its peers (default {control.DEFAULT_ETCD_PORT})")
    parser.add_argument("--leader-lease", type=int, default=0, metavar="SECONDS",
                        help="with --coordinators N: the coordinators' leader lease, 2 or more (default: the "
                             "coordinator's, 3 s); a standby takes over about this long after the leader dies")
    parser.add_argument("--ready-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long the fleet may take to be ready: the coordinator answering "
                             "health checks, every agent registered (default 60)")


def config_from_args(args: argparse.Namespace) -> FleetConfig:
    if not 1 <= args.hosts <= MAX_HOSTS:
        raise ValueError(f"--hosts must be between 1 and {MAX_HOSTS}")
    if not 0 <= args.extra_addresses <= 253:
        raise ValueError("--extra-addresses must be between 0 and 253")
    count = args.coordinators
    for option, value, step in (("--listen", args.listen, control.COORDINATOR_PORT_STEP),
                                ("--query-api-listen", args.query_api_listen, 1)):
        if count == 1 and "," in value:
            raise ValueError(f"{option} takes one HOST:PORT unless --coordinators is 3 or 5")
        for address in control.spread(value, count, step):
            split_hostport(address)
    if args.leader_lease and (count == 1 or args.leader_lease < 2):
        raise ValueError("--leader-lease is for --coordinators 3 or 5, and at least 2 s")
    if not 1 <= args.etcd_port <= 65535 - 2 * count:
        raise ValueError(f"--etcd-port must leave room for {2 * count} ports below 65536")
    return FleetConfig(
        state_dir=pathlib.Path(args.state_dir or default_state_dir()).resolve(),
        hosts=args.hosts, host_memory_mb=args.host_memory_mb, listen=args.listen,
        agent_port=args.agent_port, extra_addresses=args.extra_addresses,
        engine_paths=tuple(args.engine_path) if args.engine_path is not None else default_engine_paths(),
        log_format=args.log_format, ready_timeout=args.ready_timeout, insecure=args.insecure,
        query_api_listen=args.query_api_listen, coordinators=count, etcd_port=args.etcd_port,
        leader_lease=args.leader_lease)


# --- processes ---

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when `up` dies, even by SIGKILL."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def descendants(root: int) -> list[int]:
    """Live (non-zombie) descendants of root, parents before children."""
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for process in below:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                out.append(process.pid)
        except psutil.Error:
            continue    # gone since the listing
    return out


def cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return "?"


def tls_flags(files: CredentialFiles | None) -> list[str]:
    """A daemon's transport options: its certificate files, or None: --insecure."""
    if files is None:
        return ["--insecure"]
    return ["--ca-cert", str(files.ca), "--cert", str(files.cert), "--key", str(files.key)]


def child_env() -> dict[str, str]:
    """The children import the same tree as this process (installed or not)."""
    import cachefleet
    import coordinator

    roots = [str(pathlib.Path(coordinator.__file__).resolve().parent.parent),
             str(pathlib.Path(cachefleet.__file__).resolve().parent.parent)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(
        roots + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return env


@dataclasses.dataclass
class Child:
    """One process `up` keeps running."""

    name: str
    argv: list[str]
    pidfile: pathlib.Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restart_at: float | None = None     # when a dead child is due to start again
    backoff: float = 0.0
    exit_status: int | None = None
    output: pathlib.Path | None = None   # where its stdout and stderr go (None: up's own)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.exit_status is None else None

    def start(self, env: dict[str, str]) -> None:
        with contextlib.ExitStack() as files:
            out = None if self.output is None else files.enter_context(self.output.open("ab"))
            self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.started, self.exit_status, self.restart_at = time.monotonic(), None, None
        self.pidfile.write_text(f"{self.proc.pid}\n")
        log.info(f"started {self.name}", pid=self.proc.pid)

    def exited(self, status: int) -> None:
        self.exit_status = status
        if self.proc is not None:
            self.proc.returncode = status   # we reaped it, not Popen
        self.pidfile.unlink(missing_ok=True)

    def signal(self, signum: int) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def deposed(status: int) -> bool:
    """Whether a coordinator's wait status says it exited because another took the leadership."""
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == control.DEPOSED


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


class FleetError(Exception):
    """`up` cannot go on; the message says why (exit 1)."""


class Fleet:
    """The processes of one local fleet. Subclasses may change what is run (tests do)."""

    def __init__(self, config: FleetConfig, out: Callable[[str], None] = print) -> None:
        self.config = config
        self.hosts = config.host_list()
        self.ca = FleetCaLayout.of_state_dir(config.state_dir)   # made in _prepare: mTLS everywhere
        self.out = out
        self.stopping = False
        self.hurry = False
        self.ready = False
        run_dir = config.run_dir
        self.etcd: list[control.EtcdMember] = []
        self.etcd_children: list[Child] = []
        if config.on_etcd:
            tls = None if config.insecure else self.ca.coordinator()
            self.etcd = control.members(config.state_dir / "etcd", config.coordinators, config.etcd_port)
            self.etcd_children = [Child(m.name, control.etcd_argv(m, self.etcd, tls), run_dir / f"{m.name}.pid",
                                        output=m.log_file) for m in self.etcd]
            self.coordinators = [Child(f"coordinator{k}", self.etcd_coordinator_argv(k),
                                       run_dir / f"coordinator{k}.pid") for k in range(1, config.coordinators + 1)]
        else:
            self.coordinators = [Child("coordinator", self.coordinator_argv(), run_dir / "coordinator.pid")]
        self.coordinator = self.coordinators[0]
        self.agents = [Child(f"agent {h.host_id}", self.agent_argv(h), run_dir / f"agent-{h.host_id}.pid")
                       for h in self.hosts]
        self.children = [*self.etcd_children, *self.coordinators, *self.agents]
        self.serving = 0    # the index of the coordinator that answered last (on etcd: the leader)
        self._leader: str | None = None      # on etcd: who led when last checked
        self._leader_checked = 0.0
        self._env = child_env()
        self._lock_fd: int | None = None

    # what runs

    def coordinator_argv(self) -> list[str]:
        """The one coordinator of a fleet on SQLite (its store in DIR/coordinator/)."""
        c = self.config
        return self._coordinator_argv(c.listen, c.coordinator_dir, c.query_api_listen, [])

    def etcd_coordinator_argv(self, index: int) -> list[str]:
        """Coordinator index (1-based) of several on the fleet's etcd. They share the hosts file,
        the object store and the secrets key of DIR/coordinator/: whichever leads uses them."""
        c = self.config
        tls = None if c.insecure else self.ca.coordinator()
        return self._coordinator_argv(c.coordinator_listens()[index - 1],
                                      c.state_dir / "coordinators" / f"coordinator{index}",
                                      c.query_api_listens()[index - 1],
                                      [*control.state_store_flags(self.etcd, tls), "--name", f"coordinator{index}",
                                       *control.lease_flags(c.leader_lease)])

    def _coordinator_argv(self, listen: str, state_dir: pathlib.Path, query_api_listen: str,
                          more: list[str]) -> list[str]:
        c = self.config
        return [sys.executable, "-m", "coordinator", "--listen", listen,
                "--state-dir", str(state_dir), "--dns-backend", "hostsfile",
                "--dns-zone", DNS_ZONE, "--hosts-file", str(c.dns_hosts_file),
                # one machine: its webhooks are on it too (http://127.0.0.1:8080/hook)
                "--notification-allow-local-targets", *c.store_flags(),
                # one machine: the fleet CA signs the engines' certificates too (TLS in transit)
                "--node-ca-dir", str(self.ca.root),
                # AUTH tokens and user groups: the key that seals replication passwords, beside the store
                "--secrets-key-file", str(c.coordinator_dir / "secrets.key"),
                # one machine: its clients are on loopback too (revocable like any range)
                "--default-security-group-ingress", "127.0.0.0/8",
                "--query-api-listen", query_api_listen, *more,
                "--log-format", c.log_format, *tls_flags(None if c.insecure else self.ca.coordinator())]

    def agent_argv(self, host: Host) -> list[str]:
        c = self.config
        extra = [arg for address in host.extra_addresses(c.extra_addresses)
                 for arg in ("--extra-address", address)]
        extra += [arg for path in c.engine_paths for arg in ("--engine-path", path)]
        return [sys.executable, "-m", "nodeagent", "--address", host.address,
                "--listen", host.listen, "--host-id", host.host_id, "--zone", host.zone,
                "--memory-mb", str(c.memory_mb), "--coordinator", c.endpoint,
                "--state-dir", str(host.state_dir), "--log-format", c.log_format, *extra, *c.store_flags(),
                # the hosts share one network namespace: a table each
                "--firewall-table", f"cachefleet_{host.host_id}",
                *tls_flags(None if c.insecure else self.ca.host(host.host_id))]

    def shutdown_supervisord(self, host: Host, timeout: float) -> bool:
        """Stop the host's supervisord and engines through the agent's own command."""
        argv = [sys.executable, "-m", "nodeagent.shutdown", "--state-dir", str(host.state_dir),
                "--timeout", str(timeout)]
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout + 10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def client_channel(self, endpoint: str | None = None) -> grpc.Channel:
        """A channel to a coordinator (default: the one that answered last) with the fleet's
        admin client certificate."""
        endpoint = endpoint or self.config.coordinator_listens()[self.serving]
        if self.config.insecure:
            return grpc.insecure_channel(endpoint)
        return grpc.secure_channel(endpoint, load_channel_credentials(self.ca.client()))

    def coordinator_healthy(self) -> bool:
        """Whether a coordinator serves hosts (HostRegistry's health: on etcd only the leader's;
        followers serve reads and refuse the rest); the first that does is the one asked next."""
        for index, endpoint in enumerate(self.config.coordinator_listens()):
            with self.client_channel(endpoint) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(service=HOST_REGISTRY), timeout=1.0)
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        continue
                    try:   # a coordinator that reports no per-service health: the server's
                        answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    except grpc.RpcError:
                        continue
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                self.serving = index
                return True
        return False

    def hosts_registered(self) -> bool:
        """Whether every agent has registered (true of a coordinator without DescribeHosts)."""
        with self.client_channel() as channel:
            try:
                answer = cache_control_pb2_grpc.CacheControlStub(channel).DescribeHosts(
                    cache_control_pb2.DescribeHostsRequest(), timeout=1.0)
            except grpc.RpcError as exc:
                return exc.code() == grpc.StatusCode.UNIMPLEMENTED
        available = {h.host_id for h in answer.hosts if h.status == "available"}
        return {h.host_id for h in self.hosts} <= available

    # the run

    def run(self) -> int:
        """Start, serve until SIGINT/SIGTERM, stop; the exit code (0, or 1 with the reason logged)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = False
        try:
            self._prepare()
            started = True
            for child in self.etcd_children:
                child.start(self._env)
            self._wait_etcd()
            for child in [*self.coordinators, *self.agents]:
                child.start(self._env)
            self._wait_ready()
            if not self.stopping:
                self.out(self.banner())
            while not self.stopping:
                self._reap()
                self._supervise()
                self._follow_leader()
                time.sleep(0.1)
            return 0
        except FleetError as exc:
            log.error(str(exc))
            return 1
        finally:
            if started:
                self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._release()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping:
            self.hurry = True
            log.warning("second signal: killing what is left")
        else:
            log.info(f"{signal.Signals(signum).name}: stopping the fleet")
        self.stopping = True

    def _prepare(self) -> None:
        c = self.config
        try:
            for path in (c.run_dir, c.coordinator_dir, c.snapshot_dir, c.dns_hosts_file.parent,
                         *(h.state_dir for h in self.hosts), *(m.root for m in self.etcd[:1])):
                path.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(c.run_dir / "up.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FleetError(f"cannot use the state directory {c.state_dir}: {exc}") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(lock_fd, 32).decode().strip() or "?"
            os.close(lock_fd)
            raise FleetError(f"another `cachefleet up` (pid {other}) runs on {c.state_dir}") from None
        self._lock_fd = lock_fd
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, f"{os.getpid()}\n".encode())
        (c.run_dir / "up.pid").write_text(f"{os.getpid()}\n")
        self._check_store_kind()
        for listen in c.coordinator_listens():
            self._check_free(listen, "--listen")
        for listen in c.query_api_listens():
            self._check_free(listen, "--query-api-listen")
        for member in self.etcd:
            for port in (member.client_port, member.peer_port):
                self._check_free(f"127.0.0.1:{port}", "--etcd-port")
        self._write_endpoint(c.coordinator_listens())   # the CLI's default
        coordinator_hosts = {split_hostport(listen)[0] for listen in c.coordinator_listens()}
        query_api_hosts = {split_hostport(listen)[0] for listen in c.query_api_listens()}
        if c.insecure:
            log.warning("--insecure: every part of this fleet serves and dials plaintext gRPC without "
                        "certificates; anyone who reaches its ports can call it as anyone")
        try:
            issued = provision(self.ca.root, coordinator_sans=sorted((coordinator_hosts | query_api_hosts | {"127.0.0.1"})
                                                                      - {"0.0.0.0", "::"}),
                               hosts={h.host_id: [h.address, *h.extra_addresses(c.extra_addresses)]
                                      for h in self.hosts})
        except (OSError, ValueError) as exc:
            raise FleetError(f"cannot make the fleet's certificates under {self.ca.root}: {exc}") from None
        if issued:
            log.info("fleet certificates issued", ca=str(self.ca.root), identities=[str(i) for i in issued])
        for host in self.hosts:
            self._check_free(host.listen, "--agent-port")
        if os.geteuid() == 0:      # the agents run their engines as it (their default as root)
            try:
                ensure_user(DEFAULT_ENGINE_USER)
            except (KeyError, OSError, subprocess.SubprocessError) as exc:
                raise FleetError(f"cannot create the engines' user {DEFAULT_ENGINE_USER}: {exc}") from None
            closed = first_closed(c.state_dir.resolve(), DEFAULT_ENGINE_USER)
            if closed is not None:
                raise FleetError(f"the engines run as {DEFAULT_ENGINE_USER}, which cannot reach {c.state_dir}: "
                                 f"{closed} needs search permission for it (chmod o+x {closed}), or "
                                 f"use a --state-dir it can reach")
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            log.warning("cannot become a child subreaper; daemonized processes may escape the final sweep")

    def _check_store_kind(self) -> None:
        """A state directory keeps one kind of store: a fleet started on the other kind would find
        no clusters, and sweep their engines from the hosts as orphans."""
        c = self.config
        sqlite, etcd = c.coordinator_dir / "coordinator.db", c.state_dir / "etcd"
        if c.on_etcd and sqlite.exists():
            raise FleetError(f"{c.state_dir} holds the store of a fleet of one coordinator ({sqlite}): run it "
                             f"without --coordinators, or move its state to etcd first (`cachefleet state-store "
                             f"copy sqlite:{sqlite} etcd://...` with an etcd of its own), or use another --state-dir")
        if not c.on_etcd and etcd.is_dir() and any(etcd.iterdir()):
            raise FleetError(f"{c.state_dir} holds the etcd of a fleet of several coordinators ({etcd}): run it "
                             f"with the same --coordinators, or use another --state-dir")

    @staticmethod
    def _check_free(hostport: str, option: str) -> None:
        host, port = split_hostport(hostport)
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise FleetError(f"cannot use {hostport}: {exc.strerror} "
                                 f"(another fleet running? choose another {option})") from None

    def _write_endpoint(self, endpoints: list[str]) -> None:
        """DIR/run/endpoint, replaced whole: a CLI reading it sees the old list or the new one."""
        path = self.config.run_dir / control.ENDPOINT_FILE
        part = path.with_name(path.name + ".new")
        part.write_text(",".join(endpoints) + "\n")
        os.replace(part, path)

    def _follow_leader(self) -> None:
        """On etcd, every LEADER_CHECK seconds: who leads, said in the log when it changes, and
        put first in DIR/run/endpoint, so that the CLI dials it before the standbys."""
        if not self.etcd or time.monotonic() < self._leader_checked + LEADER_CHECK:
            return
        self._leader_checked = time.monotonic()
        leader = control.leader(self.etcd, None if self.config.insecure else self.ca.coordinator(), timeout=0.3)
        if leader is None or leader == self._leader:
            return
        self._leader = leader
        names = [child.name for child in self.coordinators]
        listens = self.config.coordinator_listens()
        if leader in names:
            first = names.index(leader)
            listens = [listens[first], *listens[:first], *listens[first + 1:]]
        log.info(f"{leader} leads", endpoint=listens[0])
        self._write_endpoint(listens)

    def _release(self) -> None:
        if self._lock_fd is not None:
            (self.config.run_dir / "up.pid").unlink(missing_ok=True)
            (self.config.run_dir / control.ENDPOINT_FILE).unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _wait_etcd(self) -> None:
        """Until every etcd member answers a read (none on SQLite)."""
        deadline = time.monotonic() + self.config.ready_timeout
        tls = None if self.config.insecure else self.ca.coordinator()
        waiting = list(zip(self.etcd, self.etcd_children))
        while waiting and not self.stopping:
            self._reap()
            for member, child in waiting:
                if child.exit_status is not None:
                    raise FleetError(f"etcd member {member.name} {describe_status(child.exit_status)} before it "
                                     f"answered; its log: {member.log_file}")
            waiting = [(m, child) for m, child in waiting if not control.etcd_answers(m, tls)]
            if waiting and time.monotonic() > deadline:
                raise FleetError(f"etcd was not ready within {self.config.ready_timeout:g} s: "
                                 f"{', '.join(m.name for m, _ in waiting)} do not answer; logs in {self.etcd[0].root}")
            time.sleep(0.05 if waiting else 0)
        if self.etcd:
            log.info("etcd is ready", members=[m.endpoint for m in self.etcd])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        while not self.stopping:
            self._reap()
            for child in [*self.etcd_children, *self.coordinators]:
                if child.exit_status is None or (child in self.coordinators and deposed(child.exit_status)):
                    continue
                if not self.config.on_etcd:
                    raise FleetError(f"the coordinator {describe_status(child.exit_status)} "
                                     "before it answered health checks; its log is above")
                raise FleetError(f"{child.name} {describe_status(child.exit_status)} before the fleet was "
                                 "ready; its log is above")
            self._supervise()   # a coordinator deposed meanwhile starts again as a standby
            if self.coordinator_healthy() and self.hosts_registered():
                self.ready = True
                log.info("fleet is ready", endpoint=self.config.endpoint, hosts=len(self.hosts))
                return
            if time.monotonic() > deadline:
                raise FleetError(f"the fleet was not ready within {self.config.ready_timeout:g} s: "
                                 f"a coordinator on {self.config.endpoint} answers health checks: "
                                 f"{self.coordinator_healthy()}; hosts registered: "
                                 f"{self.hosts_registered()}")
            time.sleep(0.1)

    def _reap(self) -> None:
        """Collect every exited child: ours, and orphans adopted as subreaper."""
        by_pid = {child.pid: child for child in self.children if child.pid is not None}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = by_pid.get(pid)
            if child is None:
                continue  # an adopted orphan (a supervisord, an engine): reaped, nothing more
            child.exited(status)
            if not self.stopping:
                log.warning(f"{child.name} {describe_status(status)}", pid=pid)

    def _supervise(self) -> None:
        """Restart dead children with a back-off."""
        now = time.monotonic()
        for child in self.children:
            if child.exit_status is None or child.proc is None:
                continue
            if child.restart_at is None and child in self.coordinators and deposed(child.exit_status):
                child.restart_at = now    # lost the leadership to another: back at once, as a standby
                log.warning(f"{child.name} lost the leadership: restarting it as a standby")
            elif child.restart_at is None:
                healthy_run = now - child.started > 60
                child.backoff = (self.config.restart_backoff if healthy_run or not child.backoff
                                 else min(child.backoff * 2, self.config.restart_backoff_max))
                child.restart_at = now + child.backoff
                log.warning(f"restarting {child.name} in {child.backoff:g} s")
            elif now >= child.restart_at:
                child.start(self._env)

    # stopping

    def stop(self) -> None:
        """Agents, then each host's supervisord (and engines), then the coordinators, then etcd, then a sweep."""
        self.stopping = True
        timeout = self.config.stop_timeout
        self._stop_children(self.agents, timeout)
        self._stop_supervisords(timeout)
        self._remove_firewalls()
        self._stop_children(self.coordinators, timeout)
        for member in self.etcd_children:   # one by one: a leader hands over to a member still up,
            self._stop_children([member], timeout)   # and the last finds nobody to wait for
        self._sweep(timeout)
        log.info("fleet stopped")

    def _remove_firewalls(self) -> None:
        """The hosts' nftables tables go with their engines: a fleet that is down leaves none in
        this machine's ruleset (the next `up` has them written again in its coordinator's first cycle)."""
        for host in self.hosts:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(["nft", "delete", "table", "inet", f"cachefleet_{host.host_id}"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)

    def _deadline_passed(self, deadline: float) -> bool:
        return self.hurry or time.monotonic() > deadline

    def _stop_children(self, children: list[Child], timeout: float) -> None:
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(c.pid is not None for c in children) and not self._deadline_passed(deadline):
            time.sleep(0.02)
            self._reap()
        for child in children:
            if child.pid is not None:
                log.warning(f"{child.name} did not stop within {timeout:g} s: SIGKILL", pid=child.pid)
                child.signal(signal.SIGKILL)
        while any(c.pid is not None for c in children):
            time.sleep(0.02)
            self._reap()

    def _stop_supervisords(self, timeout: float) -> None:
        if self.hurry:
            return
        try:
            with concurrent.futures.ThreadPoolExecutor(len(self.hosts)) as pool:
                results = list(pool.map(lambda h: self.shutdown_supervisord(h, timeout), self.hosts))
        except (ImportError, AttributeError) as exc:
            log.warning("cannot shut supervisords down cleanly; the sweep will", error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - stopping must go on whatever happens
            log.warning("shutting supervisords down failed; the sweep will", error=repr(exc))
            return
        for host, stopped in zip(self.hosts, results):
            if not stopped:
                log.warning("supervisord did not stop in time", host=host.host_id)

    def _sweep(self, timeout: float) -> None:
        """Whatever is still below us (daemons the children left): SIGTERM, then SIGKILL."""
        me = os.getpid()
        for signum in (signal.SIGTERM, signal.SIGKILL):
            left = descendants(me)
            if not left:
                return
            for pid in left:
                log.warning(f"left behind: {signal.Signals(signum).name}", pid=pid, cmd=cmdline(pid))
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            while descendants(me) and time.monotonic() < deadline:
                if signum == signal.SIGTERM and self.hurry:
                    break
                self._reap()
                time.sleep(0.02)
        self._reap()
        for pid in descendants(me):
            log.error("could not stop", pid=pid, cmd=cmdline(pid))

    # words for people

    def query_api_words(self) -> str:
        """How to reach the Query API with aws-cli and boto3: a key, the command line, a profile."""
        c = self.config
        url = c.query_api_url_of(self.serving)
        ca = "" if c.insecure else f" --ca-bundle {self.ca.root / 'ca.crt'}"
        profile_ca = "" if c.insecure else f"\n    ca_bundle = {self.ca.root / 'ca.crt'}"
        others = "" if not c.on_etcd else (
            f"\n(the leader's; when another leads, its own: {', '.join(c.query_api_url_of(k) for k in range(c.coordinators))})")
        return f"""
ElastiCache's own API (boto3, aws-cli) at {url}, with an access key:{others}
  cachefleet access-key create --role admin     # AccessKeyId and SecretAccessKey, shown once
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
  aws --endpoint-url {url}{ca} --region local elasticache describe-cache-clusters
or as a profile in ~/.aws/config (aws --profile cachefleet ..., boto3.Session(profile_name="cachefleet")):
    [profile cachefleet]
    region = local
    endpoint_url = {url}{profile_ca}
    aws_access_key_id = ...
    aws_secret_access_key = ...
"""

    def control_words(self) -> str:
        c = self.config
        if not c.on_etcd:
            return "a coordinator"
        return f"{c.coordinators} coordinators on a {c.coordinators}-member etcd"

    def etcd_words(self) -> str:
        """The lines about etcd and who leads (none on SQLite)."""
        if not self.etcd:
            return ""
        tls = None if self.config.insecure else self.ca.coordinator()
        leader = control.leader(self.etcd, tls, timeout=0.3) or "none yet"
        peers = "plaintext" if tls is None else "client and peer TLS from the fleet CA"
        return (f"\n  leader     {leader}; the others wait, and one takes over when it dies "
                f"(`up` restarts any that dies)"
                f"\n  etcd       {','.join(m.endpoint for m in self.etcd)}  ({peers}; data and logs in "
                f"{self.etcd[0].root})")

    def banner(self) -> str:
        c = self.config
        env = "" if c.endpoint == DEFAULT_LISTEN else f"\n  export CACHEFLEET_ENDPOINT={c.endpoint}"
        if pathlib.Path(default_state_dir()).resolve() != pathlib.Path(c.state_dir).resolve():
            env += f"\n  export CACHEFLEET_STATE_DIR={c.state_dir}   # where the CLI finds its certificate"
        transport = f"mutual TLS; the fleet CA and every certificate: {self.ca.root}"
        if c.insecure:
            transport = "PLAINTEXT, no certificates (--insecure): give the CLI --insecure"
            env += "\n  export CACHEFLEET_INSECURE=1   # this fleet is plaintext"
        hosts = "\n".join(f"  {h.host_id:<8} {h.address:<11} {h.zone:<9} {c.memory_mb} MB  "
                          f"agent {h.listen}" for h in self.hosts)
        if c.extra_addresses:
            hosts += (f"\n  (host i also owns 127.0.2.i to 127.0.{1 + c.extra_addresses}.i, so a cluster"
                      " may have more nodes than there are hosts)")
        again = f" --coordinators {c.coordinators}" if c.on_etcd else ""
        return f"""
cachefleet is up: {self.control_words()} and {len(self.hosts)} hosts, state in {c.state_dir}

  endpoint   {c.endpoint}  ({transport}){self.etcd_words()}
  DNS        {c.dns_hosts_file}  (zone {DNS_ZONE}, hosts-file format)
{hosts}

In another terminal:{env}
  cachefleet describe-hosts --output table
  cachefleet create-cache-cluster --cache-cluster-id c1 --engine memcached \\
      --cache-node-type cache.t1.micro --num-cache-nodes 3 --wait
  cachefleet describe-cache-clusters --show-cache-node-info --output table
{self.query_api_words()}
Ctrl-C stops everything; `cachefleet up{again}` on the same state dir brings the clusters back.
"""


def run(args: argparse.Namespace) -> int:
    """`cachefleet up`."""
    configure_logging(args.log_format)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"cachefleet up: {exc}", file=sys.stderr)
        return 252
    return Fleet(config, out=lambda text: print(text, flush=True)).run()
