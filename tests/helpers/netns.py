"""A multi-host test bed made of Linux network namespaces, for partition tests.

Each member (a cache host, the coordinator, the DNS server, the object store, the clients)
is a namespace of its own with one veth link to a bridge that lives in the bed's own bridge
namespace, never in the root one. Every address comes from one random /24 inside
198.18.0.0/15 (the benchmarking range, never routed off a machine); no namespace has a
default route, so nothing a test starts can reach anything but the bed.

A partition is nftables `drop` rules in a table of the bed's own inside the receiving
namespace (drop, not reject: the sender hears nothing, as on a real cut link; and on input,
not output, where a local drop would fail the sender's send() at once with EPERM).

Python code reaches into a namespace through threads that entered it with setns(2): a
socket belongs to the namespace of the thread that created it, and keeps it whichever thread
uses it later. gRPC's own threads cannot be steered that way, so `unix_forward` gives a path
(filesystem, not network) whose connections are carried into a namespace.

Every name is the bed's tag plus a role, e.g. `cfb3f9a1c-h1`; `close()` (the context
manager's exit, also after a failure half-way through set-up) kills by PID every process
the bed started and everything still inside its namespaces, then deletes the namespaces,
which takes the links and the bridge with them.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import dataclasses
import os
import pathlib
import random
import secrets
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import redis

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = pathlib.Path("/var/run/netns")
STOP_GRACE_S = 10.0
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _sh(*argv: str, input_text: str | None = None) -> str:
    """Run one ip/nft/tc command; a failure raises with its stderr."""
    done = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def enter_namespace(name: str) -> None:
    """Move the calling thread (only it) into network namespace `name`."""
    fd = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if _LIBC.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@dataclasses.dataclass
class Member:
    """One namespace of the bed: its role, its name and the addresses on its link."""

    role: str
    name: str
    address: str
    extra_addresses: list[str] = dataclasses.field(default_factory=list)
    _executor: concurrent.futures.ThreadPoolExecutor | None = dataclasses.field(default=None, repr=False)

    @property
    def addresses(self) -> list[str]:
        return [self.address, *self.extra_addresses]


class Bed:
    """The namespaces, links and addresses of one test; use it as a context manager.

    `hosts` cache hosts (roles h1, h2, ...; each with `extra_per_host` more addresses), and
    one namespace for each of `services` (default: coordinator, dns, s3, client)."""

    def __init__(self, hosts: int = 3, extra_per_host: int = 1,
                 services: Sequence[str] = ("coordinator", "dns", "s3", "client"), prefix: str = "cfb"):
        self.tag = prefix + secrets.token_hex(4)
        # a random /24 of 198.18.0.0/15: beds are apart anyway (each its own bridge), but
        # two beds never even show the same addresses in a log
        self.subnet = f"198.{random.choice((18, 19))}.{random.randint(0, 255)}"
        self.bridge_ns = f"{self.tag}-br"
        self.members: dict[str, Member] = {}
        next_octet = iter(range(1, 255))
        for i in range(1, hosts + 1):
            address = f"{self.subnet}.{next(next_octet)}"
            self.members[f"h{i}"] = Member(f"h{i}", f"{self.tag}-h{i}", address)
        for role in services:
            self.members[role] = Member(role, f"{self.tag}-{role}", f"{self.subnet}.{next(next_octet)}")
        for i in range(1, hosts + 1):
            self.members[f"h{i}"].extra_addresses = [f"{self.subnet}.{next(next_octet)}" for _ in range(extra_per_host)]
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self._created: list[str] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._cuts: dict[str, set[str]] = {}
        self._forwarders: list[_UnixForwarder] = []
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> Bed:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_ns(self, name: str) -> None:
        _sh("ip", "netns", "add", name)
        self._created.append(name)
        _sh("ip", "-n", name, "link", "set", "lo", "up")

    def _create(self) -> None:
        self._add_ns(self.bridge_ns)
        _sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for member in self.members.values():
            self._add_ns(member.name)
            port = f"v-{member.role}"[:15]
            _sh("ip", "-n", member.name, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                "netns", self.bridge_ns)
            _sh("ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
            for address in member.addresses:
                _sh("ip", "-n", member.name, "addr", "add", f"{address}/24", "dev", "eth0")
            _sh("ip", "-n", member.name, "link", "set", "eth0", "up")
            # the bed's own table: a set of sources dropped on input, empty until a cut
            _sh("ip", "netns", "exec", member.name, "nft", "-f", "-", input_text=(
                f"table inet {self.tag} {{\n"
                "  set cut_from { type ipv4_addr; }\n"
                "  chain input { type filter hook input priority -10; policy accept;\n"
                "    ip saddr @cut_from drop\n  }\n}\n"))
            self._cuts[member.role] = set()

    def close(self) -> None:
        """Kill what the bed started (by PID), then delete its namespaces. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for forwarder in self._forwarders:
            forwarder.close()
        self._stop_processes(self._procs)
        for member in self.members.values():
            if member._executor is not None:
                member._executor.shutdown(wait=False, cancel_futures=True)
        for name in reversed(self._created):
            self._kill_inside(name)
            with contextlib.suppress(RuntimeError):
                _sh("ip", "netns", "del", name)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)

    @staticmethod
    def children(pid: int) -> list[int]:
        """pid's child processes (every thread's)."""
        found = []
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []
        for task in tasks:
            try:
                found += map(int, pathlib.Path(f"/proc/{pid}/task/{task}/children").read_text().split())
            except OSError:
                continue
        return found

    @classmethod
    def _descendants(cls, pid: int) -> list[int]:
        found, todo = [], [pid]
        while todo:
            for child in cls.children(todo.pop()):
                found.append(child)
                todo.append(child)
        return found

    def _stop_processes(self, procs: Sequence[subprocess.Popen[bytes]], grace: float = STOP_GRACE_S) -> None:
        """SIGTERM each (newest first; a supervisord stops its engines on TERM), wait up to
        `grace` for all of them together, then SIGKILL whatever is left of them and of their
        descendants, all by PID."""
        tree = {pid for proc in procs for pid in self._descendants(proc.pid)}
        for proc in reversed(procs):
            if proc.poll() is None:
                _kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        for pid in [p.pid for p in procs if p.poll() is None] + sorted(tree):
            _kill(pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    @staticmethod
    def _kill_inside(name: str) -> None:
        """SIGKILL, by PID, whatever still runs in one of the bed's own namespaces."""
        try:
            pids = [int(p) for p in _sh("ip", "netns", "pids", name).split()]
        except RuntimeError:
            return
        for pid in pids:
            if pid != os.getpid():
                _kill(pid, signal.SIGKILL)

    # -- processes -------------------------------------------------------------------------

    def run(self, role: str, argv: Sequence[str], log: pathlib.Path | None = None,
            env: dict[str, str] | None = None, cwd: pathlib.Path | None = None) -> subprocess.Popen[bytes]:
        """Start `argv` inside the member's namespace (`ip netns exec` execs it: the PID is the
        command's own); killed by PID when the bed closes, or earlier by `stop`."""
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - kept by Popen
        proc = subprocess.Popen(["ip", "netns", "exec", self.members[role].name, *argv], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                start_new_session=True)
        if log is not None:
            out.close()
        self._procs.append(proc)
        return proc

    def run_once(self, role: str, argv: Sequence[str], env: dict[str, str] | None = None,
                 timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the member's namespace to its end."""
        return subprocess.run(["ip", "netns", "exec", self.members[role].name, *argv], env=env,
                              capture_output=True, text=True, timeout=timeout)

    def stop(self, *procs: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> None:
        """Stop processes the bed started (and their descendants), together, by PID."""
        self._stop_processes(procs, grace)

    def call(self, role: str, fn: Callable[..., T], *args: Any, timeout: float = 60, **kw: Any) -> T:
        """Run fn(*args, **kw) on a thread inside the member's namespace: the sockets it
        creates live there (and may be used from any thread afterwards)."""
        member = self.members[role]
        if member._executor is None:
            member._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix=member.name, initializer=enter_namespace, initargs=(member.name,))
        return member._executor.submit(fn, *args, **kw).result(timeout)

    def thread(self, role: str, target: Callable[[], None]) -> threading.Thread:
        """A daemon thread (not started) that runs `target` inside the member's namespace."""
        name = self.members[role].name

        def run() -> None:
            enter_namespace(name)
            target()
        return threading.Thread(target=run, daemon=True, name=f"{name}-thread")

    def connect(self, role: str, address: str, port: int, timeout: float = 1.0) -> socket.socket:
        """A TCP connection opened from the member's namespace."""
        return self.call(role, lambda: socket.create_connection((address, port), timeout=timeout),
                         timeout=timeout + 5)

    def redis(self, role: str, host: str, port: int, **kw: Any) -> redis.Redis:
        """A redis client whose connections are opened from the member's namespace."""
        bed, member_role = self, role

        class NsConnection(redis.connection.Connection):
            def _connect(self) -> socket.socket:
                return bed.call(member_role, super()._connect, timeout=30)

        pool = redis.ConnectionPool(connection_class=NsConnection, host=host, port=port, **kw)
        return redis.Redis(connection_pool=pool)

    def unix_forward(self, role: str, address: str, port: int) -> str:
        """A unix socket path whose every connection is carried to address:port from the
        member's namespace; for gRPC channels (`unix:` + path) and other clients whose
        threads cannot be put in a namespace."""
        path = self.dir / f"fwd-{role}-{address}-{port}.sock"
        forwarder = _UnixForwarder(str(path), lambda: self.connect(role, address, port, timeout=2.0))
        self._forwarders.append(forwarder)
        return str(path)

    # -- the network -----------------------------------------------------------------------

    def _set(self, verb: str, receiver: str, sources: set[str]) -> None:
        if sources:
            _sh("ip", "netns", "exec", self.members[receiver].name, "nft", verb, "element", "inet", self.tag,
                "cut_from", "{ " + ", ".join(sorted(sources)) + " }")

    def cut(self, a: str, b: str, both: bool = True) -> None:
        """Drop every packet from a to b (and from b to a when `both`)."""
        pairs = [(a, b), (b, a)] if both else [(a, b)]
        for sender, receiver in pairs:
            new = set(self.members[sender].addresses) - self._cuts[receiver]
            self._set("add", receiver, new)
            self._cuts[receiver] |= new

    def isolate(self, role: str, from_roles: Sequence[str]) -> None:
        """Cut `role` from each of `from_roles`, both ways."""
        for other in from_roles:
            self.cut(role, other)

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """Undo cuts between a and b (both directions); with no arguments, every cut."""
        for receiver, sources in self._cuts.items():
            if a is None:
                drop = set(sources)
            elif receiver in (a, b):
                sender = b if receiver == a else a
                drop = sources & set(self.members[sender or ""].addresses) if sender else set()
            else:
                continue
            self._set("delete", receiver, drop)
            sources -= drop

    def slow(self, role: str, delay_ms: float, jitter_ms: float = 0.0) -> None:
        """Delay everything `role` sends on its link (tc netem on its end of the veth).
        Kernels built without sch_netem refuse it: that is raised, never ignored."""
        args = ["delay", f"{delay_ms}ms"] + ([f"{jitter_ms}ms"] if jitter_ms else [])
        try:
            _sh("ip", "netns", "exec", self.members[role].name, "tc", "qdisc", "replace", "dev", "eth0",
                "root", "netem", *args)
        except RuntimeError as exc:
            if "unknown" in str(exc).lower():
                raise RuntimeError("this kernel has no netem qdisc (sch_netem): links cannot be slowed") from exc
            raise

    def unslow(self, role: str) -> None:
        with contextlib.suppress(RuntimeError):
            _sh("ip", "netns", "exec", self.members[role].name, "tc", "qdisc", "del", "dev", "eth0", "root")

    # -- reading it --------------------------------------------------------------------------

    def role_of(self, address: str) -> str:
        return next(m.role for m in self.members.values() if address in m.addresses)

    def reaches(self, src: str, address: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a TCP connection from src's namespace to address:port succeeds now."""
        try:
            self.connect(src, address, port, timeout=timeout).close()
            return True
        except OSError:
            return False


class _UnixForwarder:
    """Accepts on a unix socket; carries each connection to a socket made by `dial`."""

    def __init__(self, path: str, dial: Callable[[], socket.socket]):
        self.path, self.dial = path, dial
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(64)
        self._closing = False
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._carry, args=(client,), daemon=True).start()

    def _carry(self, client: socket.socket) -> None:
        try:
            upstream = self.dial()
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        pair = (client, upstream)
        self._open.update(pair)
        try:
            while not self._closing:
                readable, _, _ = select.select(pair, [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            for sock in pair:
                sock.close()
                self._open.discard(sock)

    def close(self) -> None:
        self._closing = True
        self.server.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@contextlib.contextmanager
def bed(**kw: Any) -> Iterator[Bed]:
    with Bed(**kw) as b:
        yield b
