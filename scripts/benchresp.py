"""A small RESP client for the benchmarks: the same data path for cachefleet and the
references it is measured beside (Redis Sentinel, a bare redis-server).

One connection, one command at a time, socket timeouts on connect and read. Addresses are
checked first: loopback, or the network-namespace bed's 198.18.0.0/15, nothing else.
"""
from __future__ import annotations

import socket

from benchlib import check_local

SOCKET_TIMEOUT = 0.5                 # connect and read timeouts unless told


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
