"""The interface every engine adapter implements, and checks they share."""
from __future__ import annotations

import asyncio
import pathlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Callable, Mapping

from cachefleet.v1 import node_agent_pb2

from nodeagent.errors import InvalidArgument
from nodeagent.resp import Command, ConnectionLost, RespClient, RespError

_CONTROL = re.compile(r"[\x00-\x1f\x7f;#]")


@dataclass(frozen=True)
class DataState:
    """What a node's data is, as the probe read it (redis: INFO persistence and keyspace)."""

    aof_enabled: bool
    keys: int
    changes: int = 0        # writes since the last save (redis: rdb_changes_since_last_save)


@dataclass(frozen=True)
class ProbeResult:
    """One health probe: ok means the engine serves; answered means something replied at all."""

    ok: bool
    answered: bool
    detail: str = ""
    replication: node_agent_pb2.ReplicationInfo | None = None  # redis: INFO replication, read with the probe
    fenced: bool | None = None  # redis: the write fence is set (a master with it refuses writes)
    guarded: bool | None = None  # redis: the write guard is set (writes only while a replica keeps up)
    data: DataState | None = None  # redis: read with the probe


class Session(ABC):
    """The agent's link to one node of an engine: probes it (and, for redis, controls it)."""

    @abstractmethod
    async def probe(self, timeout: float) -> ProbeResult:
        """Whether the node serves, judged within timeout; never raises for an engine that is down."""

    async def dropped(self) -> None:
        """Returns when the engine drops a connection the session keeps open; never without one."""
        await asyncio.get_running_loop().create_future()

    def close(self) -> None:  # noqa: B027 - optional: a session may hold nothing
        """Release what the session holds open."""


class ClientSession(Session):
    """One connection kept open to the node, for probes, metrics and control commands.

    One connection, not one per probe: the agent's probes would otherwise be most of a node's
    NewConnections (5 a second), and the engine dropping it (the process died) is seen at once
    through `dropped`, not at the next probe.
    """

    def __init__(self, client: RespClient, probe_commands: list[Command],
                 judge: Callable[[list], ProbeResult]) -> None:
        self.client = client
        self.address, self.port = client.host, client.port
        self._probe_commands, self._judge = probe_commands, judge

    async def probe(self, timeout: float) -> ProbeResult:
        try:
            return self._judge(await self.client.execute(self._probe_commands, timeout))
        except TimeoutError:
            return ProbeResult(ok=False, answered=False, detail=no_answer(self.address, self.port, timeout))
        except ConnectionLost as error:
            return ProbeResult(ok=False, answered=False, detail=f"{self.address}:{self.port}: {error}")
        except OSError as error:
            return ProbeResult(ok=False, answered=False, detail=refused(self.address, self.port, error))
        except RespError as error:  # AUTH refused
            return ProbeResult(ok=False, answered=True, detail=str(error)[:200])

    async def dropped(self) -> None:
        await self.client.dropped()

    async def command(self, commands: list[Command], timeout: float) -> list:
        """Run commands in one round trip; the first error reply is raised as RespError."""
        replies = await self.client.execute(commands, timeout)
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies

    def close(self) -> None:
        self.client.close()


def no_answer(address: str, port: int, timeout: float) -> str:
    return f"no answer on {address}:{port} within {timeout * 1000:.0f} ms"


def refused(address: str, port: int, error: OSError) -> str:
    return f"{address}:{port}: {error.strerror or error}"


class Engine(ABC):
    """One engine kind (memcached, redis)."""

    name: str                    # as in EngineInstall.engine and NodeSpec.engine
    binary: str                  # the name looked up on PATH
    version_args: tuple[str, ...]
    # Nodes can be primaries and replicas. Then the agent, not supervisord, starts and restarts
    # them: a primary that died is never started again blindly (see nodes.py).
    has_roles: bool = False
    # Its data directory can hold keys (RDB, AOF): a removal sets it aside unless told to discard.
    persists_data: bool = False
    # NodeSpec fields a change of which never needs a new program: the engine reads them from
    # a data file at its next start, or the agent renders them only when it starts the engine
    # (see nodeagent/parameters.py).
    start_time_fields: tuple[str, ...] = ("parameters", "immediate_parameters")

    @abstractmethod
    def parse_version(self, output: str) -> str | None:
        """The version from the output of `binary *version_args`, None if it is not this engine."""

    @abstractmethod
    def command(self, binary: str, spec: node_agent_pb2.NodeSpec, address: str,
                data_dir: pathlib.Path) -> list[str]:
        """argv that runs the node in the foreground, bound to address:spec.port."""

    def supports_tls(self, path: str) -> bool:
        """Whether the binary at path was built with TLS (TLS in transit)."""
        return False

    def data_files(self, spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> dict[str, str]:
        """Files the node reads from its data directory (data_dir) at start: name -> content."""
        return {}

    def prepare_start(self, spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> None:  # noqa: B027
        """Put the data directory in order for a start of the engine (blocking file work); optional."""

    def start_data(self, spec: node_agent_pb2.NodeSpec,
                   data_dir: pathlib.Path) -> node_agent_pb2.StartData | None:
        """What a start of the engine loads from data_dir now, and when it was saved (blocking
        file work; before prepare_start). None: the engine keeps no data across a start."""
        return None

    @abstractmethod
    def check_parameters(self, parameters: Mapping[str, str], binary: str | None = None) -> None:
        """Raise InvalidArgument for a parameter this engine (the one at binary, when given) cannot take."""

    @abstractmethod
    def session(self, address: str, spec: node_agent_pb2.NodeSpec, agent_password: str = "") -> Session:
        """The agent's link to the node of spec listening on address:spec.port (as the agent's
        own ACL user, with agent_password, where the node has one)."""


def check_values(parameters: Mapping[str, str]) -> None:
    """Values end up in a supervisord program file: no control characters or comment marks."""
    for name, value in parameters.items():
        if _CONTROL.search(value):
            raise InvalidArgument(
                f"parameter {name!r} has a value with a control character, ';' or '#'")
