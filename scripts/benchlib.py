"""Helpers shared by the scripts in scripts/ (bench-cluster, bench-failover, bench-guard, bench-snapshot, chaos).

A benchmark here starts its own `cachefleet up` in a temporary state directory, talks to
it through the gRPC stubs, resolves names from the hosts file the coordinator writes,
kills only processes it started or found below that `up` (by pid, checked by start
time), binds and connects on 127.0.0.0/8 only (scripts/chaos: also inside the network
namespaces it makes, 198.18.0.0/15), and bounds every loop by a count and a deadline.
Progress goes to stderr.

    import benchlib            # scripts/ is on sys.path when a script there runs
    fleet = benchlib.Fleet(benchlib.Processes(), workdir, hosts=4)
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pathlib
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "proto"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import grpc  # noqa: E402
import psutil  # noqa: E402

from cachefleet.common.tls.credentials import load_channel_credentials  # noqa: E402
from cachefleet.common.tls.localfleet import FleetCaLayout  # noqa: E402
from cachefleet.v1 import cache_control_pb2 as pb  # noqa: E402
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc  # noqa: E402
from coordinator.dns import resolve_hosts_file  # noqa: E402

T0 = time.monotonic()
CREATE_POLL = 0.010            # how often a wait for a status polls the API


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def progress(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float, what: str):
    """Poll predicate (exceptions count as false) until truthy; BenchError at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    for _ in range(int(timeout / max(interval, 0.001)) + 10):
        try:
            value = predicate()
            if value:
                return value
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep polling; reported at the deadline
            last_error = exc
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:g} s waiting for {what}"
                     + (f" (last error: {last_error!r})" if last_error else ""))


# --- processes: everything started here is tracked by pid and stopped by pid ---

SETPRIV = shutil.which("setpriv")


def with_pdeathsig(argv: list[str], signame: str = "KILL") -> list[str]:
    """argv run so that it gets signame when we die (even by SIGKILL): util-linux setpriv, which
    execs argv (same pid). Not preexec_fn: we have gRPC threads, and a fork of a threaded
    process may deadlock before exec."""
    return [SETPRIV, "--pdeathsig", signame, "--", *argv] if SETPRIV else argv


def process(pid: int) -> psutil.Process | None:
    """A handle on pid while it runs (None: gone or a zombie). psutil's handle knows the process's
    start time, so alive(pid, handle) tells it apart from a later process that reused the pid."""
    try:
        handle = psutil.Process(pid)
        return None if handle.status() == psutil.STATUS_ZOMBIE else handle
    except psutil.Error:
        return None


def process_age(pid: int) -> float | None:
    """Seconds since pid started (None: gone). Counted on the boot clock: create_time() less
    boot_time() is the start since boot, exact, where create_time() alone carries the
    whole-second rounding of the boot time."""
    handle = process(pid)
    try:
        since_boot = handle.create_time() - psutil.boot_time() if handle else None
    except psutil.Error:
        return None
    return None if since_boot is None else time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot


def autogroup(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def alive(pid: int, handle: psutil.Process | None = None) -> bool:
    """pid runs (not a zombie); with handle, it is still that process."""
    if handle is None:
        return process(pid) is not None
    try:
        return handle.is_running() and handle.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def children(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below pid, parents before children."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


class Processes:
    """The processes this script starts (Popen) or adopts by pid (a shell loop's engine)."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen] = []
        self.adopted: dict[int, psutil.Process | None] = {}   # pid -> its handle

    def start(self, argv: list[str], log: pathlib.Path | None = None, pdeathsig: str = "KILL",
              **kwargs) -> subprocess.Popen:
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(with_pdeathsig(argv, pdeathsig), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, **kwargs)
        finally:
            if log:
                out.close()
        self.popens.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc in self.popens:
            self.popens.remove(proc)

    def stop_many(self, procs: list[subprocess.Popen], timeout: float = 5.0) -> None:
        """SIGTERM to all, then wait for all (memcached takes ~0.7 s to exit on SIGTERM)."""
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            self.stop(proc, timeout)

    def stop_shell_loop(self, shell: subprocess.Popen, timeout: float = 5.0) -> None:
        """A `while` loop around an engine: the loop first (so it starts nothing more), then the engine."""
        engines = [(p, process(p)) for p in children(shell.pid)]
        shell.kill()
        shell.wait(timeout)
        self.popens.remove(shell)
        for pid, started in engines:
            self.kill_adopted(pid, started, timeout)

    def kill_adopted(self, pid: int, started: psutil.Process | None, timeout: float) -> None:
        if alive(pid, started):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while alive(pid, started) and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop_all(self) -> None:
        for proc in list(self.popens):
            try:
                self.stop(proc)
            except Exception as exc:  # noqa: BLE001 - go on stopping the others
                progress(f"could not stop pid {proc.pid}: {exc!r}")


# --- faults: signals by pid, to processes a script started ---

def signal_if_alive(pid: int, handle: psutil.Process | None, signum: signal.Signals) -> None:
    if alive(pid, handle):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def wait_gone(pid: int, handle: psutil.Process | None, what: str) -> None:
    wait_until(lambda: not alive(pid, handle), 5, 0.002, f"{what} (pid {pid}) to be gone")


@contextlib.contextmanager
def stopped(pid: int, what: str) -> Iterator[psutil.Process]:
    """pid SIGSTOPped while the block runs, SIGCONTed after it (also if we are interrupted
    meanwhile: a process of ours is never left stopped)."""
    handle = process(pid)
    if handle is None:
        raise BenchError(f"{what} (pid {pid}) is not running")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield handle
    finally:
        signal_if_alive(pid, handle, signal.SIGCONT)


def stop_for(pid: int, seconds: float, what: str) -> tuple[int, psutil.Process | None]:
    """SIGSTOP pid, keep it stopped `seconds` (the fault itself), SIGCONT it."""
    with stopped(pid, what) as handle:
        time.sleep(seconds)
    return pid, handle


def kill_all(victims: list[tuple[int, psutil.Process | None]]) -> tuple[float, float]:
    """SIGKILL every (pid, handle) back to back, then wait until all are gone (zombies
    count as gone); (when the first signal went, when the last one was seen gone)."""
    killed_at = time.perf_counter()
    for pid, started in victims:
        if alive(pid, started):
            os.kill(pid, signal.SIGKILL)
    for _ in range(20000):
        if not any(alive(pid, started) for pid, started in victims):
            return killed_at, time.perf_counter()
        if time.perf_counter() - killed_at > 5:
            break
        time.sleep(0.0002)
    raise BenchError(f"still alive 5 s after SIGKILL: {[p for p, s in victims if alive(p, s)]}")


# --- network helpers (127.0.0.0/8 only) ---

def check_loopback(address: str) -> str:
    if not address.startswith("127."):
        raise BenchError(f"refusing to use {address}: this benchmark stays on 127.0.0.0/8")
    return address


BED_NETWORK = ipaddress.ip_network("198.18.0.0/15")   # tests/helpers/netns.py's beds


def check_local(address: str) -> str:
    """The address, if it is loopback or inside a network-namespace bed (never routed off
    the machine); BenchError otherwise."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise BenchError(f"refusing to use {address!r}: not an IP address") from None
    if not (ip.is_loopback or ip in BED_NETWORK):
        raise BenchError(f"refusing to use {address}: benchmarks stay on 127.0.0.0/8 or a bed's 198.18.0.0/15")
    return address


def port_free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((check_loopback(address), port))
        except OSError:
            return False
    return True


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((check_loopback(address), 0))
        return probe.getsockname()[1]


def pick_port(addresses: list[str], used: set[int]) -> int:
    """A port free on every address, below the usual ephemeral range, not handed out before."""
    for _ in range(500):
        port = random.randrange(20000, 32000)
        if port not in used and all(port_free(a, port) for a in addresses):
            used.add(port)
            return port
    raise BenchError("no free port found on the fleet's addresses")


def _exchange(address: str, port: int, request: bytes, done: Callable[[bytes], bool],
              timeout: float) -> bytes:
    with socket.create_connection((check_loopback(address), port), timeout=timeout) as conn:
        conn.settimeout(timeout)
        conn.sendall(request)
        data = b""
        for _ in range(64):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
            if done(data):
                break
        return data


def memcached_version(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        return _exchange(address, port, b"version\r\n", lambda d: d.endswith(b"\r\n"),
                         timeout).startswith(b"VERSION ")
    except OSError:
        return False


def memcached_set_get(address: str, port: int, timeout: float = 0.2) -> bool:
    value = f"{time.monotonic_ns() % 1000000:06d}".encode()
    request = b"set bench:k 0 0 6\r\n" + value + b"\r\nget bench:k\r\n"
    try:
        data = _exchange(address, port, request, lambda d: d.endswith(b"END\r\n"), timeout)
    except OSError:
        return False
    return data == b"STORED\r\nVALUE bench:k 0 6\r\n" + value + b"\r\nEND\r\n"


def redis_ping(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        return _exchange(address, port, b"PING\r\n", lambda d: d.endswith(b"\r\n"), timeout) == b"+PONG\r\n"
    except OSError:
        return False


def connect_refused(address: str, port: int) -> bool:
    try:
        with socket.create_connection((check_loopback(address), port), timeout=0.2):
            return False
    except OSError:
        return True


# --- finding a managed engine's pid: supervisord's child that owns the listening socket ---

def listens_on(pid: int, address: str, port: int) -> bool:
    """Whether pid itself holds a TCP socket listening on address:port."""
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(s.status == psutil.CONN_LISTEN and tuple(s.laddr) == (address, port) for s in sockets)


def free_port_run(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1, below the usual ephemeral range."""
    for _ in range(200):
        first = random.randrange(20000, 32000 - count)
        if all(port_free("127.0.0.1", port) for port in range(first, first + count)):
            return first
    raise BenchError("no run of free ports on 127.0.0.1")


class AnyCoordinator:
    """CacheControl calls answered by whichever of several coordinators serves (on etcd, the
    leader: a standby does not listen, or answers NotLeader): the one that answered last is
    asked first, the others in turn when it does not answer."""

    def __init__(self, channels: list[grpc.Channel]) -> None:
        self.stubs = [pb_grpc.CacheControlStub(channel) for channel in channels]
        self.current = 0

    @staticmethod
    def moves_on(exc: grpc.RpcError) -> bool:
        return exc.code() == grpc.StatusCode.UNAVAILABLE or (
            exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "NotLeader" in (exc.details() or ""))

    def __getattr__(self, method: str) -> Callable:
        def call(request, **kwargs):
            failed: grpc.RpcError | None = None
            for k in range(len(self.stubs)):
                index = (self.current + k) % len(self.stubs)
                try:
                    answer = getattr(self.stubs[index], method)(request, **kwargs)
                except grpc.RpcError as exc:
                    if not self.moves_on(exc):
                        raise
                    failed = exc
                    continue
                self.current = index
                return answer
            assert failed is not None
            raise failed
        return call


# --- the fleet ---

@dataclass
class Fleet:
    procs: Processes
    workdir: pathlib.Path
    proc: subprocess.Popen | None = None
    endpoint: str = ""
    hosts_file: pathlib.Path | None = None
    channel: grpc.Channel | None = None
    stub: pb_grpc.CacheControlStub | AnyCoordinator | None = None
    hosts: int = 3
    extra_addresses: int = 3   # `up --extra-addresses`: host i also owns 127.0.2.i .. 127.0.(1+K).i
    insecure: bool = False     # `up --insecure`: plaintext gRPC, the baseline mTLS is measured against
    query_api: str = ""        # where `up` serves the Query API (HOST:PORT, https; the first coordinator's)
    log_format: str = "console"  # `up --log-format`: json when a bench reads the log (benchtimeline.py)
    coordinators: int = 1      # `up --coordinators N`: N coordinators on an N-member etcd (3 or 5)
    etcd_port: int = 0         # with coordinators > 1: the first of the etcd members' ports
    leader_lease: int = 0      # with coordinators > 1: `up --leader-lease` (0: the coordinator's default)
    channels: list[grpc.Channel] = field(default_factory=list)
    ports_used: set[int] = field(default_factory=set)
    below_up: dict[int, psutil.Process | None] = field(default_factory=dict)   # pid -> its handle

    @property
    def state_dir(self) -> pathlib.Path:
        return self.workdir / "state"

    @property
    def log(self) -> pathlib.Path:
        return self.workdir / "up.log"

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.{j}.{i}" for i in range(1, self.hosts + 1) for j in range(1, self.extra_addresses + 2)]

    def start(self, timeout: float = 90.0) -> None:
        agent_port = pick_port([f"127.0.1.{i}" for i in range(1, self.hosts + 1)], set())
        listens = [f"127.0.0.1:{free_port('127.0.0.1')}" for _ in range(self.coordinators)]
        self.endpoint = ",".join(listens)
        query_apis = [f"127.0.0.1:{free_port('127.0.0.1')}" for _ in listens]
        self.query_api = query_apis[0]
        argv = [sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(self.state_dir),
                "--hosts", str(self.hosts), "--listen", self.endpoint, "--agent-port", str(agent_port),
                "--extra-addresses", str(self.extra_addresses),
                "--query-api-listen", ",".join(query_apis), "--log-format", self.log_format]
        argv += ["--insecure"] * self.insecure
        if self.coordinators > 1:
            self.etcd_port = free_port_run(2 * self.coordinators)
            argv += ["--coordinators", str(self.coordinators), "--etcd-port", str(self.etcd_port)]
            argv += ["--leader-lease", str(self.leader_lease)] * bool(self.leader_lease)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "proto")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        progress(f"starting: {' '.join(argv[1:])} (log {self.log})")
        # Its own session (a Ctrl-C here reaches only us; we stop it in order), and SIGTERM
        # if we die, so that it still stops its fleet.
        self.proc = self.procs.start(argv, log=self.log, pdeathsig="TERM", cwd=ROOT, env=env,
                                     start_new_session=True)
        banner = wait_until(self._banner, timeout, 0.1, "`cachefleet up` to print its banner")
        match = re.search(r"^\s*DNS\s+(\S+)\s+\(zone", banner, re.M)
        self.hosts_file = pathlib.Path(match.group(1)) if match else self.state_dir / "dns" / "hosts"
        # a coordinator that was away is dialled again within 0.1 s (gRPC's own back-off grows to minutes)
        options = [("grpc.enable_http_proxy", 0), ("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.min_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 100)]
        for listen in listens:
            if self.insecure:
                self.channels.append(grpc.insecure_channel(listen, options=options))
            else:   # mTLS with the admin client certificate `up` issued under its state directory
                credentials = load_channel_credentials(FleetCaLayout.of_state_dir(self.state_dir).client())
                self.channels.append(grpc.secure_channel(listen, credentials, options=options))
        self.channel = self.channels[0]
        self.stub = (pb_grpc.CacheControlStub(self.channel) if len(self.channels) == 1
                     else AnyCoordinator(self.channels))
        hosts = self.stub.DescribeHosts(pb.DescribeHostsRequest(), timeout=5).hosts
        progress(f"fleet up: {len(hosts)} hosts, endpoint {self.endpoint} "
                 f"({'PLAINTEXT' if self.insecure else 'mTLS'}), DNS {self.hosts_file}")

    def _banner(self) -> str | None:
        if self.proc.poll() is not None:
            raise BenchError(f"`cachefleet up` exited with {self.proc.returncode}; its log:\n{self.log_tail()}")
        text = self.log.read_text(errors="replace")
        return text if "cachefleet is up" in text and "In another terminal" in text else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def remember_descendants(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                self.below_up.setdefault(pid, process(pid))

    def stop(self, timeout: float = 60.0) -> dict:
        """SIGTERM to `up`, wait for it; then check that nothing it started outlives it."""
        report = {"exit_code": None, "stop_seconds": None, "left_behind": []}
        for channel in self.channels:
            channel.close()
        if self.proc is None:
            return report
        self.remember_descendants()
        started = time.monotonic()
        if self.proc.poll() is None:
            progress("stopping `cachefleet up` (SIGTERM)")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                progress(f"`cachefleet up` still running after {timeout:g} s: SIGKILL")
                self.proc.kill()
                self.proc.wait(10)
        report["exit_code"] = self.proc.returncode
        report["stop_seconds"] = round(time.monotonic() - started, 3)
        if self.proc in self.procs.popens:
            self.procs.popens.remove(self.proc)
        for pid, start_time in self.below_up.items():
            if alive(pid, start_time):
                report["left_behind"].append({"pid": pid, "cmd": " ".join(cmdline(pid))})
                self.procs.kill_adopted(pid, start_time, 5.0)
        return report

    def teardown(self) -> dict:
        """The end of a run: every other process this script started stopped, then `up` (stop's report)."""
        try:
            self.remember_descendants()
            for proc in [p for p in self.procs.popens if p is not self.proc]:
                self.procs.stop(proc)
            return self.stop()
        finally:
            self.procs.stop_all()

    # API

    def describe(self, cluster_id: str, nodes: bool = False) -> pb.CacheCluster | None:
        try:
            answer = self.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(
                cache_cluster_id=cluster_id, show_cache_node_info=nodes), timeout=5)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return answer.cache_clusters[0]

    def create(self, cluster_id: str, engine: str, node_type: str, count: int, port: int) -> None:
        self.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id=cluster_id, engine=engine, cache_node_type=node_type,
            num_cache_nodes=count, port=port), timeout=10)

    def wait_status(self, cluster_id: str, status: str, started: float, timeout: float,
                    interval: float = CREATE_POLL) -> float:
        """Poll until the cluster shows status; seconds since started (perf_counter)."""
        deadline = started + timeout
        last = ""
        for _ in range(int(timeout / interval) + 10):
            cluster = self.describe(cluster_id)
            if cluster is None:
                raise BenchError(f"{cluster_id} vanished while waiting for {status}")
            last = cluster.cache_cluster_status
            if last == status:
                return time.perf_counter() - started
            if last not in ("creating", "modifying", "rebooting cache cluster nodes", status):
                raise BenchError(f"{cluster_id} is {last!r} while waiting for {status!r}")
            now = time.perf_counter()
            if now > deadline:
                break
            time.sleep(max(0.0, interval - (now - started) % interval))
        raise BenchError(f"{cluster_id} not {status} within {timeout:g} s (last {last!r})")

    def create_available(self, cluster_id: str, engine: str, node_type: str, count: int,
                         timeout: float = 60.0) -> tuple[float, int]:
        port = pick_port(self.addresses, self.ports_used)
        started = time.perf_counter()
        self.create(cluster_id, engine, node_type, count, port)
        return self.wait_status(cluster_id, "available", started, timeout), port

    def nodes(self, cluster_id: str) -> list[pb.CacheNode]:
        cluster = self.describe(cluster_id, nodes=True)
        return list(cluster.cache_nodes) if cluster else []

    def resolve(self, name: str) -> str | None:
        addresses = resolve_hosts_file(self.hosts_file, name)
        return check_loopback(addresses[0]) if addresses else None

    def delete_gone(self, cluster_id: str, timeout: float = 60.0) -> float:
        """Delete; seconds until DescribeCacheClusters says not found and the engines stopped listening."""
        nodes = self.nodes(cluster_id)
        targets = [(n.host_address, n.endpoint.port) for n in nodes if n.host_address]
        started = time.perf_counter()
        self.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id=cluster_id), timeout=10)
        wait_until(lambda: self.describe(cluster_id) is None, timeout, CREATE_POLL, f"{cluster_id} to be gone")
        gone = time.perf_counter() - started
        wait_until(lambda: all(connect_refused(a, p) for a, p in targets), 20, 0.02,
                   f"{cluster_id}'s engines to stop listening")
        return gone

    def program_argv(self, address: str, port: int) -> list[str] | None:
        """The command line the agent gave supervisord for the engine on address:port (its program
        file; redis-server rewrites its own /proc cmdline, so that is no source)."""
        for conf in sorted((self.state_dir / "hosts").glob("host*/programs/*.conf")):
            for line in conf.read_text().splitlines():
                if line.startswith("command="):
                    argv = shlex.split(line[len("command="):].replace("%%", "%"))
                    flags = dict(zip(argv[1:], argv[2:]))
                    if (flags.get("-l", flags.get("--bind")) == address
                            and flags.get("-p", flags.get("--port")) == str(port)):
                        return argv
        return None

    def engine_pid(self, address: str, port: int) -> int | None:
        """The engine listening on address:port: a child of one host's supervisord owning that socket."""
        for i in range(1, self.hosts + 1):
            try:
                sup = int((self.state_dir / "hosts" / f"host{i}" / "supervisord.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            for child in children(sup):
                if listens_on(child, address, port):
                    return child
        return None

    # hosts: where `up` and the agents record their pids (coordinator/up/fleet.py, nodeagent/layout.py)

    def host_dir(self, host_id: str) -> pathlib.Path:
        return self.state_dir / "hosts" / host_id

    def agent_pid(self, host_id: str) -> int | None:
        """The agent `up` runs for host_id (run/agent-<host>.pid, else the pid the agent writes
        in hosts/<host>/agent.json), checked: a child of our `up` whose command line names that host."""
        try:
            pid = int((self.state_dir / "run" / f"agent-{host_id}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            try:
                pid = int(json.loads((self.host_dir(host_id) / "agent.json").read_text())["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
        argv = cmdline(pid)
        if (self.proc is None or pid not in children(self.proc.pid) or "nodeagent" not in argv
                or host_id not in argv):
            return None
        return pid

    def supervisord_pid(self, host_id: str) -> int | None:
        """host_id's supervisord (its pidfile), checked: alive, supervisord, below our `up`."""
        try:
            pid = int((self.host_dir(host_id) / "supervisord.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        argv = cmdline(pid)      # python -m supervisor.supervisord -c <host dir>/supervisord.conf
        if not any("supervisord" in a for a in argv) or not any(str(self.host_dir(host_id)) in a for a in argv):
            return None
        if self.proc is None or pid not in descendants(self.proc.pid):
            return None
        return pid

    def host_status(self, host_id: str) -> str | None:
        hosts = self.stub.DescribeHosts(pb.DescribeHostsRequest(), timeout=5).hosts
        return next((h.status for h in hosts if h.host_id == host_id), None)

    # replication groups

    def describe_group(self, group_id: str) -> pb.ReplicationGroup | None:
        try:
            answer = self.stub.DescribeReplicationGroups(
                pb.DescribeReplicationGroupsRequest(replication_group_id=group_id), timeout=5)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return answer.replication_groups[0] if answer.replication_groups else None

    def create_group(self, group_id: str, clusters: int, node_type: str, port: int,
                     automatic_failover: bool = True) -> pb.ReplicationGroup:
        return self.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
            replication_group_id=group_id, replication_group_description=f"{group_id}, a benchmark's",
            num_cache_clusters=clusters, automatic_failover_enabled=automatic_failover,
            cache_node_type=node_type, engine="redis", port=port), timeout=10).replication_group

    def delete_group(self, group_id: str, timeout: float = 60.0) -> None:
        self.stub.DeleteReplicationGroup(pb.DeleteReplicationGroupRequest(replication_group_id=group_id),
                                         timeout=10)
        wait_until(lambda: self.describe_group(group_id) is None, timeout, 0.05, f"{group_id} to be gone")


# --- a replication group under test ---

class Group:
    """A replication group of `clusters` cache clusters, seen through the API and the hosts file."""

    def __init__(self, fleet: Fleet, group_id: str, port: int, clusters: int) -> None:
        self.fleet, self.group_id, self.port, self.clusters = fleet, group_id, port, clusters
        self.name = ""

    def describe(self) -> pb.ReplicationGroup:
        group = self.fleet.describe_group(self.group_id)
        if group is None:
            raise BenchError(f"replication group {self.group_id} is gone")
        return group

    def resolve_name(self, name: str) -> str | None:
        return self.fleet.resolve(name)

    def resolve(self) -> tuple[str, int] | None:
        address = self.resolve_name(self.name)
        return (address, self.port) if address else None

    def members(self) -> list[pb.NodeGroupMember]:
        group = self.describe()
        return list(group.node_groups[0].node_group_members) if len(group.node_groups) == 1 else []

    def settled(self) -> pb.NodeGroupMember | None:
        """The primary member once the group is available with all its members serving,
        the replicas' links up, and the primary name resolving to the primary."""
        group = self.describe()
        if group.status != "available" or len(group.node_groups) != 1:
            return None
        members = list(group.node_groups[0].node_group_members)
        if len(members) != self.clusters or any(m.cache_node_status != "available" for m in members):
            return None
        primaries = [m for m in members if m.current_role == "primary"]
        replicas = [m for m in members if m.current_role == "replica"]
        if len(primaries) != 1 or len(replicas) != self.clusters - 1 \
                or any(m.replication_link_status != "up" for m in replicas):
            return None
        primary = primaries[0]
        address = self.resolve_name(self.name)
        if address is None or address != self.resolve_name(primary.read_endpoint.address):
            return None
        return primary


def make_group(fleet: Fleet, group_id: str, clusters: int, node_type: str) -> Group:
    """A replication group (automatic failover on), created and settled."""
    port = pick_port(fleet.addresses, fleet.ports_used)
    started = time.perf_counter()
    fleet.create_group(group_id, clusters, node_type, port)
    group = Group(fleet, group_id, port, clusters)
    wait_until(lambda: group.describe().status == "available", 60, 0.02, f"{group_id} to be available")
    described = group.describe()
    group.name = described.node_groups[0].primary_endpoint.address
    primary = wait_until(group.settled, 30, 0.02, f"{group_id} settled")
    progress(f"{group_id}: available after {fmt_s(time.perf_counter() - started)}, primary endpoint "
             f"{group.name}:{group.port}, primary {primary.cache_cluster_id} on {primary.host_id}")
    return group


# --- clients and bare engines beside the managed ones ---

def run_client(argv: list[str], timeout: float) -> str:
    """Run a load client (redis-benchmark, memcaslap) to its end; its stdout. BenchError on failure."""
    try:
        done = subprocess.run(with_pdeathsig(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{argv[0]} did not finish within {timeout:g} s") from exc
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def parse_redis_benchmark(output: str) -> dict[str, float]:
    """`redis-benchmark -q`'s lines: test name -> requests per second."""
    found = {}
    for line in re.split(r"[\r\n]+", output):
        match = re.match(r"\s*([A-Z]+): ([\d.]+) requests per second", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def bare_from_managed(argv: list[str], address: str, port: int, data_dir: pathlib.Path) -> list[str]:
    """The managed engine's own command line, with only where it listens and keeps files changed."""
    out, swap = list(argv), {"-l": address, "--bind": address, "-p": str(port), "--port": str(port),
                             "--dir": str(data_dir)}
    for i, arg in enumerate(out[:-1]):
        if arg in swap:
            out[i + 1] = swap[arg]
    # The managed node's replication.conf holds the fence a primary starts with (lifted by its
    # agent while the coordinator's lease holds): a bare redis has no lease, so it runs
    # unfenced, as the managed one does once it serves. parameters.conf (maxmemory, ...) stays.
    for i in range(len(out) - 2, -1, -1):
        if out[i] == "--include" and out[i + 1].endswith("/replication.conf"):
            del out[i:i + 2]
    return out


# --- a benchmark's main(): tools, signals, failures, the end of a run ---

def tool_missing(script: str, tools: tuple[str, ...]) -> bool:
    """True (and says so on stderr) if one of tools is not on PATH."""
    for tool in tools:
        if shutil.which(tool) is None:
            print(f"{script}: {tool} is not on PATH (scripts/setup installs it)", file=sys.stderr)
            return True
    return False


def sigterm_interrupts() -> None:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does: the run stops and cleans up either way."""
    def on_term(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, on_term)


def ignore_interrupts() -> None:
    """Cleanup is bounded in time; a second Ctrl-C or SIGTERM must not cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


FAILURES = (BenchError, KeyboardInterrupt, grpc.RpcError)   # what ends a run early, said by failure()


def failure(exc: BaseException) -> str:
    """One of FAILURES in a line."""
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted ({exc or 'SIGINT'})"
    if isinstance(exc, grpc.RpcError):
        return f"gRPC call failed: {exc.code().name}: {exc.details()}"
    return str(exc)


def end_run(error: str | None, meta: dict, results: dict, workdir: pathlib.Path, as_json: bool,
            remove: bool) -> int:
    """The last lines on stdout (INCOMPLETE, the JSON line), workdir removed or named; the exit code."""
    if error:
        print(f"\n  INCOMPLETE: {error}")
    if as_json:
        print(json.dumps({"meta": meta, "results": results, "error": error}, default=str))
    if remove:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"  (state and logs kept in {workdir})")
    return 1 if error else 0


# --- statistics and the table ---

def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "min": min(values), "max": max(values),
            "values": [round(v, 6) for v in values]}


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ops(ops: float | None) -> str:
    return "-" if ops is None else f"{ops:,.0f}/s"


def verdict(value: float | None, target: float, higher_is_better: bool = False) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as aligned text lines, the first row a header underlined with dashes."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
