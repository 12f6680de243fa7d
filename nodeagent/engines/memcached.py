"""memcached: command line, the parameters it accepts, and its health probe."""
from __future__ import annotations

import os
import pathlib
import re
from typing import Mapping

from cachefleet.v1 import node_agent_pb2

from nodeagent.engines.base import Engine, LineSession, ProbeResult, Session, check_values
from nodeagent.errors import InvalidArgument

# ElastiCache memcached parameter names → the memcached flag that sets them.
PARAMETER_FLAGS = {
    "max_simultaneous_connections": "-c",
    "max_item_size": "-I",
    "chunk_size": "-n",
    "chunk_size_growth_factor": "-f",
    "backlog_queue_limit": "-b",
}


class Memcached(Engine):
    name = "memcached"
    binary = "memcached"
    version_args = ("-V",)

    def parse_version(self, output: str) -> str | None:
        match = re.match(r"memcached (\d+\.\d+\.\d+\S*)", output.strip())
        return match.group(1) if match else None

    def command(self, binary: str, spec: node_agent_pb2.NodeSpec, address: str,
                data_dir: pathlib.Path) -> list[str]:
        argv = [binary, "-l", address, "-p", str(spec.port), "-U", "0",
                "-m", str(spec.max_memory_mb), "-c", "4096"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root otherwise
        for name, value in sorted(spec.parameters.items()):  # last flag wins in memcached
            argv += [PARAMETER_FLAGS[name], value]
        return argv

    def check_parameters(self, parameters: Mapping[str, str]) -> None:
        unknown = sorted(set(parameters) - set(PARAMETER_FLAGS))
        if unknown:
            raise InvalidArgument(f"memcached does not take parameter(s) {', '.join(unknown)}; "
                                  f"it takes {', '.join(sorted(PARAMETER_FLAGS))}")
        check_values(parameters)

    def session(self, address: str, spec: node_agent_pb2.NodeSpec) -> Session:
        return LineSession(address, spec.port, b"version\r\n", 1, self.judge)

    def judge(self, lines: list[str]) -> ProbeResult:
        if lines and lines[0].startswith("VERSION"):
            return ProbeResult(ok=True, answered=True)
        return ProbeResult(ok=False, answered=bool(lines), detail=" ".join(lines)[:200])
