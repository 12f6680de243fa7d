"""memcached: command line, the parameters it accepts, and its health probe.

Parameters are command-line options. Which options a binary has, and how each is
spelled, comes from the binary itself (`memcached -h`, parsed by cachefleet.common.memcached_help), so
the agent renders exactly what the installed version understands; the coordinator's
parameter catalogue (scripts/gen-parameter-catalog) is built from the same parse.
Parameter names are ElastiCache's where it has one (`max_item_size` for -I), else
the long option with `_` for `-` (`disable_dumping`), or the extended `-o` option's
own name (`hot_lru_pct`; `lru_crawler` for the pair lru_crawler / no_lru_crawler).
"""
from __future__ import annotations

import asyncio
import functools
import os
import pathlib
import re
import subprocess
from collections.abc import Mapping

from cachefleet.v1 import node_agent_pb2

from cachefleet.common.memcached_help import Option, parse_help
from nodeagent import transit
from nodeagent.engines.base import ClientSession, Engine, ProbeResult, check_values
from nodeagent.errors import InvalidArgument
from nodeagent.resp import Command, ConnectionLost, Reply, RespClient, RespError, Wire



def encode_text(command: Command) -> bytes:
    """A text-protocol command line (`stats`, `version`): words the agent itself wrote, no user data."""
    return " ".join(command).encode() + b"\r\n"


async def read_text_reply(reader: asyncio.StreamReader) -> Reply:
    """One reply: a `STAT ...` list up to END (as a list of lines), else the one line it is.

    ERROR, CLIENT_ERROR and SERVER_ERROR come back as RespError, as redis errors do.
    """
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw.endswith(b"\r\n"):
            raise ConnectionLost("connection closed by the engine")
        line = raw[:-2].decode(errors="replace")
        if line.startswith("STAT "):
            lines.append(line)
        elif line == "END":
            return lines
        elif lines:
            raise ConnectionLost(f"unexpected line in a stats reply: {line[:40]!r}")
        elif line.startswith(("ERROR", "CLIENT_ERROR", "SERVER_ERROR")):
            return RespError(line)
        else:
            return line


TEXT = Wire(encode_text, read_text_reply)
VERSION: list[Command] = [("version",)]


def judge(replies: list) -> ProbeResult:
    """The reply to `version`: any VERSION line means the node serves."""
    reply = replies[0] if replies else None
    if isinstance(reply, str) and reply.startswith("VERSION"):
        return ProbeResult(ok=True, answered=True)
    return ProbeResult(ok=False, answered=reply is not None, detail=str(reply)[:200])


class MemcachedSession(ClientSession):
    """The agent's one connection to a memcached node: `version` probes it, `stats` samples it."""

    def __init__(self, address: str, spec: node_agent_pb2.NodeSpec) -> None:
        super().__init__(RespClient(address, spec.port, wire=TEXT, ssl=transit.client_context(spec)),
                         VERSION, judge)




def tls_args(spec: node_agent_pb2.NodeSpec, address: str, data_dir: pathlib.Path) -> list[str]:
    """TLS on the node's port (fixed file names: `refresh_certs` rereads them); in PREFERRED a
    second listener without TLS for the clients that have not moved yet."""
    if not transit.enabled(spec):
        return []
    files = (f"ssl_chain_cert={data_dir / transit.CERT_FILE},ssl_key={data_dir / transit.KEY_FILE},"
             f"ssl_ca_cert={data_dir / transit.CA_FILE}")
    argv = ["-Z", "-o", files]
    plaintext = transit.plaintext_port(spec)
    if plaintext:
        host = f"[{address}]" if ":" in address else address
        argv += ["-l", f"notls:{host}:{plaintext}"]
    return argv


@functools.lru_cache(maxsize=8)
def _options_of(binary: str, mtime_ns: int) -> dict[str, Option]:
    result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10,
                            stdin=subprocess.DEVNULL)
    return parse_help(result.stdout)


def options_of(binary: str) -> dict[str, Option]:
    """The options of the memcached at binary (read once per binary file)."""
    return _options_of(binary, os.stat(binary).st_mtime_ns)


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
        argv += tls_args(spec, address, data_dir)
        options = options_of(binary)
        for name, value in sorted(spec.parameters.items()):  # last flag wins in memcached
            argv += options[name].render(value)
        return argv

    def supports_tls(self, path: str) -> bool:
        return "enable_ssl" in options_of(path)

    def check_parameters(self, parameters: Mapping[str, str], binary: str | None = None) -> None:
        bad = []
        if binary is not None:   # which names may be set at all is the catalogue's (specs.check_allowed)
            options = options_of(binary)
            bad = sorted(n for n in parameters if n not in options)
        if bad:
            raise InvalidArgument(f"memcached does not take parameter(s) {', '.join(sorted(set(bad)))}")
        check_values(parameters)

    def session(self, address: str, spec: node_agent_pb2.NodeSpec, agent_password: str = "") -> MemcachedSession:
        return MemcachedSession(address, spec)
