"""A small RESP client and the writers that record every acknowledged write, shared by
scripts/bench-failover and scripts/chaos: the same data path for cachefleet and its references.

A writer SETs a new key per attempt (<prefix>:<n> = n) on a connection it holds open and
drops on any error, resolving its target again at the next attempt, and records which
server acknowledged each write and when (and, with confirm, whether `WAIT 1 100` saw it on a replica); `read_back` then says which acknowledged keys a
server no longer holds. Connections go only to 127.0.0.0/8 or 198.18.0.0/15 (benchlib.check_local).
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchlib import BenchError, check_local, wait_until

SOCKET_TIMEOUT = 0.5                 # connect and read timeouts
WRITE_EVERY = 0.010                  # KeyWriter: one SET per 10 ms
WARM_WRITES = 50                     # KeyWriter.warm: acknowledged before a fault is made


class RespError(Exception):
    """An error reply (-READONLY, -NOREPLICAS, ...)."""


class Resp:
    def __init__(self, address: str, port: int, timeout: float = SOCKET_TIMEOUT) -> None:
        self.sock = socket.create_connection((check_local(address), port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def call(self, *words: str):
        out = [b"*%d\r\n" % len(words)]
        for word in words:
            data = str(word).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("connection closed by the server")
        self.buf += chunk

    def _line(self) -> bytes:
        for _ in range(1000):
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                return line
            self._fill()
        raise ConnectionError("reply line too long")

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            for _ in range(10000):
                if len(self.buf) >= size + 2:
                    break
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            return data
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionError(f"not RESP: {line[:40]!r}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def resp_once(address: str, port: int, *words: str, timeout: float = SOCKET_TIMEOUT):
    conn = Resp(address, port, timeout)
    try:
        return conn.call(*words)
    finally:
        conn.close()


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, RespError):
        return str(exc).split(" ", 1)[0]                 # READONLY, NOREPLICAS, LOADING, ...
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    return type(exc).__name__


@dataclass
class Ack:
    sent: float                      # perf_counter when the SET was sent
    done: float                      # perf_counter when the reply came
    n: int                           # the write's number: key <prefix>:<n>, value n
    address: str                     # "ip:port" that acknowledged it
    replicated: bool = False         # with confirm: `WAIT 1 100` said a replica has it too


class KeyWriter:
    """SET <prefix>:<n> n, one attempt every `every` seconds, as a long-lived client writes: on a
    connection held open; on any error the connection is dropped, the name resolved again and
    a new connection opened at the next attempt. A failed resolve or connect is a failed write
    too (the write the application wanted to make did not happen). `enter`, if given, runs
    first on the writer's thread (to put it in a network namespace: its sockets are made there)."""

    def __init__(self, label: str, resolve: Callable[[], tuple[str, int] | None], prefix: str,
                 max_seconds: float, every: float = WRITE_EVERY, enter: Callable[[], None] | None = None,
                 confirm: bool = False) -> None:
        self.label, self.resolve, self.prefix, self.max_seconds = label, resolve, prefix, max_seconds
        self.every, self.enter, self.confirm = every, enter, confirm
        self.acks: list[Ack] = []
        self.failures: list[tuple[float, str]] = []             # (perf_counter, kind)
        self.resolved: list[tuple[float, str | None]] = []      # (perf_counter, "ip:port"), on change
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"writer {label}", daemon=True)

    def _fail(self, kind: str) -> None:
        self.failures.append((time.perf_counter(), kind))

    def _connect(self) -> tuple[Resp, str] | None:
        try:
            target = self.resolve()
        except Exception as exc:  # noqa: BLE001 - a resolver failure is a failed reconnect
            self._fail(f"resolve: {type(exc).__name__}")
            return None
        name = f"{target[0]}:{target[1]}" if target else None
        if not self.resolved or self.resolved[-1][1] != name:
            self.resolved.append((time.perf_counter(), name))
        if target is None:
            self._fail("resolve: no address")
            return None
        try:
            return Resp(target[0], int(target[1])), name
        except OSError as exc:
            self._fail(f"connect: {error_kind(exc)}")
            return None

    def _run(self) -> None:
        if self.enter is not None:
            self.enter()
        conn: Resp | None = None
        address = ""
        next_at = time.perf_counter()
        deadline = next_at + self.max_seconds
        for n in range(50_000_000):
            now = time.perf_counter()
            if self.stop_event.is_set() or now > deadline:
                break
            if next_at > now:
                time.sleep(next_at - now)
            next_at = max(next_at + self.every, time.perf_counter())   # no burst after a slow attempt
            if conn is None:
                connected = self._connect()
                if connected is None:
                    continue
                conn, address = connected
            sent = time.perf_counter()
            try:
                reply = conn.call("SET", f"{self.prefix}:{n}", str(n))
            except (OSError, RespError, ValueError) as exc:
                self._fail(error_kind(exc))
                conn.close()
                conn = None
                continue
            if reply != "OK":
                self._fail(f"reply {reply!r}")
                conn.close()
                conn = None
                continue
            ack = Ack(sent, time.perf_counter(), n, address)
            self.acks.append(ack)
            if self.confirm:
                try:
                    ack.replicated = conn.call("WAIT", "1", "100") >= 1
                except (OSError, RespError, ValueError) as exc:
                    self._fail(f"WAIT: {error_kind(exc)}")
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()

    def start(self) -> KeyWriter:
        self.thread.start()
        return self

    def warm(self, timeout: float = 15.0) -> None:
        wait_until(lambda: len(self.acks) >= WARM_WRITES, timeout, 0.01, f"{self.label}: writes flowing")

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        if self.thread.is_alive():
            raise BenchError(f"writer {self.label} did not stop")

    def figures(self, fault_at: float, fault_over: float, missing: list[int] | None) -> dict:
        """What the writer saw from the fault on. missing: the acknowledged writes not read back
        (None: could not read back at all)."""
        acks = [a for a in self.acks if a.done >= fault_at]
        times = [fault_at] + [a.done for a in acks]
        gaps = [b - a for a, b in zip(times, times[1:])]
        failures = [(t, k) for t, k in self.failures if t >= fault_at]
        kinds: dict[str, int] = {}
        for _, kind in failures:
            kinds[kind] = kinds.get(kind, 0) + 1
        addresses = [a.address for a in self.acks]
        return {
            "failed_writes": len(failures),
            "failed_during_fault": sum(t <= fault_over for t, _ in failures),
            "failed_before_fault": len(self.failures) - len(failures),
            "failure_kinds": kinds,
            "first_failure_after": round(failures[0][0] - fault_at, 3) if failures else None,
            "last_failure_after": round(failures[-1][0] - fault_at, 3) if failures else None,
            "acked": len(self.acks),
            "acked_after_fault": len(acks),
            "longest_gap": max(gaps) if gaps else None,
            "address_changes": sum(a != b for a, b in zip(addresses, addresses[1:])),
            "addresses": sorted(set(addresses)),
            "lost_acked": len(missing) if missing is not None else None,
            "lost_sample": (missing or [])[:10],
        }


def read_back(address: str, port: int, prefix: str, acks: list[Ack]) -> list[int]:
    """The acknowledged writes whose key does not hold their value on address:port now."""
    conn = Resp(address, port, timeout=5)
    missing: list[int] = []
    try:
        for i in range(0, len(acks), 500):
            batch = [a.n for a in acks[i:i + 500]]
            values = conn.call("MGET", *[f"{prefix}:{n}" for n in batch])
            missing += [n for n, v in zip(batch, values) if v != str(n).encode()]
    finally:
        conn.close()
    return missing
