"""A minimal asyncio client for the engines: one connection, pipelined commands, replies in order.

The agent keeps one connection per node and uses it for probes, metrics and, for
redis, control (role changes, fencing). A reader task parses replies as they come,
so a connection the engine drops (the process died) is noticed at once through
`closed`, not at the next probe. Error replies are returned, not raised: a
pipeline's caller judges each reply. Nothing is retried here.

The protocol is a `Wire`: how a command is written and a reply read. RESP (redis)
is the default; memcached's text protocol is `nodeagent.engines.memcached.TEXT`.
"""
from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from typing import NamedTuple, cast
from collections.abc import Awaitable, Callable, Sequence


class RespError(Exception):
    """An error reply (`-ERR ...`, `-READONLY ...`); returned in place of the reply, not raised."""


class ConnectionLost(ConnectionError):
    """The connection closed before every reply arrived."""


Reply = str | int | None | list | RespError
Command = Sequence[str]


class Tolerated(tuple):
    """A hello command whose error reply does not fail the connection: the agent's AUTH as its
    own ACL user, which an engine started before it had the user does not know yet."""


def encode(command: Command) -> bytes:
    """A command as a RESP array of bulk strings (safe for any bytes in the arguments)."""
    out = [b"*%d\r\n" % len(command)]
    for word in command:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionLost("connection closed by the engine")
    kind, rest = line[:1], line[1:-2].decode(errors="replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return (await reader.readexactly(size + 2))[:-2].decode(errors="replace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await read_reply(reader) for _ in range(size)]
    raise ConnectionLost(f"not a RESP reply: {line[:40]!r}")


class Wire(NamedTuple):
    """An engine protocol: a command's bytes, and the coroutine that reads one reply."""

    encode: Callable[[Command], bytes]
    read_reply: Callable[[asyncio.StreamReader], Awaitable[Reply]]


RESP = Wire(encode, read_reply)


class RespConnection:
    """One open connection; `execute` pipelines commands, concurrent callers are served in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: Wire = RESP) -> None:
        self._reader = reader
        self._writer = writer
        self._wire = wire
        self._pending: deque[asyncio.Future[Reply]] = deque()
        self.closed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name="resp reader")

    @classmethod
    async def open(cls, host: str, port: int, timeout: float, hello: Sequence[Command] = (),
                   wire: Wire = RESP, ssl: ssl_module.SSLContext | None = None) -> RespConnection:
        """Connect (over TLS with an ssl context; the handshake is within timeout), and send
        hello (AUTH, CLIENT SETNAME) first; fails if any hello reply is an error."""
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl, server_hostname=host if ssl is not None else None)
        connection = cls(reader, writer, wire)
        try:
            for command, reply in zip(hello, await connection.execute(hello, timeout), strict=True):
                if isinstance(reply, RespError) and not isinstance(command, Tolerated):
                    raise reply
        except BaseException:
            connection.close()
            raise
        return connection

    async def execute(self, commands: Sequence[Command], timeout: float) -> list[Reply]:
        """Send commands in one write and return their replies; TimeoutError or ConnectionLost."""
        if not commands:
            return []
        if self.closed.is_set():
            raise ConnectionLost("connection closed")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._pending.extend(futures)
        self._writer.write(b"".join(self._wire.encode(command) for command in commands))
        try:
            async with asyncio.timeout(timeout):
                replies = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            self.close()  # later replies would be out of step with later callers
            raise
        for reply in replies:  # a RespError is a reply; only a lost connection is raised
            if isinstance(reply, ConnectionLost):
                raise reply
        return cast(list[Reply], replies)

    def close(self) -> None:
        if not self.closed.is_set():
            self._writer.close()
            self._task.cancel()
            self._fail_pending(ConnectionLost("connection closed"))
            self.closed.set()

    async def _read_loop(self) -> None:
        try:
            while True:
                reply = await self._wire.read_reply(self._reader)
                if self._pending:
                    future = self._pending.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as error:  # ssl.SSLError too
            self._fail_pending(ConnectionLost(str(error) or "connection closed by the engine"))
        finally:
            self._writer.close()
            self.closed.set()

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)


class RespClient:
    """A connection to one node that reconnects on the next call after it is lost."""

    def __init__(self, host: str, port: int, hello: Sequence[Command] = (),
                 connect_timeout: float = 0.15, wire: Wire = RESP,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        self.host = host
        self.ssl = ssl
        self.port = port
        self._wire = wire
        self._hello = list(hello)
        self._connect_timeout = connect_timeout
        self._connection: RespConnection | None = None
        self._connecting = asyncio.Lock()
        self._opened = asyncio.Event()  # set, then replaced, whenever a connection opens

    @property
    def connected(self) -> RespConnection | None:
        """The open connection, if any (its `closed` event says when the engine drops it)."""
        connection = self._connection
        return connection if connection is not None and not connection.closed.is_set() else None

    async def execute(self, commands: Sequence[Command], timeout: float) -> list[Reply]:
        connection = self.connected
        if connection is None:
            async with self._connecting:
                connection = self.connected
                if connection is None:
                    connection = self._connection = await RespConnection.open(
                        self.host, self.port, min(timeout, self._connect_timeout), self._hello, self._wire,
                        self.ssl)
                    self._opened.set()
                    self._opened = asyncio.Event()
        return await connection.execute(commands, timeout)

    async def dropped(self) -> None:
        """Returns when an open connection closes; waits for one to open first if none is."""
        while (connection := self.connected) is None:
            await self._opened.wait()
        await connection.closed.wait()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
