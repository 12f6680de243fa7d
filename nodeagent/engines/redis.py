"""redis-server: command line with parameter overrides, and its health probe."""
from __future__ import annotations

import pathlib
import re
from typing import Mapping

from cachefleet.v1 import node_agent_pb2

from nodeagent.engines.base import Engine, ProbeResult, check_values
from nodeagent.errors import InvalidArgument

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# The agent owns where the engine listens, runs and logs; a parameter may not move them.
MANAGED = frozenset({"bind", "port", "daemonize", "dir", "logfile", "include", "supervised"})


def resp(*words: str) -> bytes:
    """A command in the Redis protocol (safe for any bytes in the words, unlike inline commands)."""
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Redis(Engine):
    name = "redis"
    binary = "redis-server"
    version_args = ("--version",)

    def parse_version(self, output: str) -> str | None:
        match = re.search(r"Redis server v=(\d+\.\d+\.\d+\S*)", output)
        return match.group(1) if match else None

    def command(self, binary: str, spec: node_agent_pb2.NodeSpec, address: str,
                data_dir: pathlib.Path) -> list[str]:
        argv = [binary, "--bind", address, "--port", str(spec.port), "--daemonize", "no",
                "--protected-mode", "no", "--maxmemory", f"{spec.max_memory_mb}mb",
                "--maxmemory-policy", "volatile-lru", "--save", "", "--appendonly", "no",
                "--dir", str(data_dir), "--logfile", ""]
        for name, value in sorted(spec.parameters.items()):  # later options override earlier ones
            argv += [f"--{name}", value]
        return argv

    def check_parameters(self, parameters: Mapping[str, str]) -> None:
        for name in sorted(parameters):
            if not _NAME.match(name):
                raise InvalidArgument(f"redis parameter name {name!r} is not a redis config name")
            if name in MANAGED:
                raise InvalidArgument(f"redis parameter {name!r} is managed by the agent")
        check_values(parameters)

    def probe(self, spec: node_agent_pb2.NodeSpec) -> tuple[bytes, int]:
        password = spec.parameters.get("requirepass")
        if password:
            return resp("AUTH", password) + resp("PING"), 2
        return resp("PING"), 1

    def judge(self, lines: list[str]) -> ProbeResult:
        if lines and lines[-1] == "+PONG" and all(line == "+OK" for line in lines[:-1]):
            return ProbeResult(ok=True, answered=True)
        error = next((line for line in lines if line.startswith("-")), " ".join(lines))
        if error.startswith("-LOADING"):
            return ProbeResult(ok=False, answered=True, detail="loading the dataset")
        return ProbeResult(ok=False, answered=bool(lines), detail=error.lstrip("-")[:200])
