"""memcached: command line, the parameters it accepts, and its health probe.

Parameters are command-line options. Which options a binary has, and how each is
spelled, comes from the binary itself (`memcached -h`, parsed by `parse_help`), so
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
from dataclasses import dataclass
from typing import Mapping

from cachefleet.v1 import node_agent_pb2

from nodeagent.engines.base import ClientSession, Engine, ProbeResult, check_values
from nodeagent.errors import InvalidArgument
from nodeagent.resp import Command, ConnectionLost, Reply, RespClient, RespError, Wire

# ElastiCache's memcached parameter names -> the long option they set.
ELASTICACHE_NAMES = {
    "max_simultaneous_connections": "conn-limit",
    "max_item_size": "max-item-size",
    "chunk_size": "slab-min-size",
    "chunk_size_growth_factor": "slab-growth-factor",
    "backlog_queue_limit": "listen-backlog",
    "cas_disabled": "disable-cas",
    "error_on_memory_exhausted": "disable-evictions",
    "lock_down_paged_memory": "lock-memory",
    "large_memory_pages": "enable-largepages",
    "disable_flush_all": "disable-flush-all",
    "binding_protocol": "protocol",
    "num_threads": "threads",
    "max_requests_per_event": "max-reqs-per-event",
    "memory_limit": "memory-limit",
}
_NAME_OF_LONG = {long: name for name, long in ELASTICACHE_NAMES.items()}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# The flags the agent itself sets; a parameter may not set them again.
AGENT_FLAGS = frozenset({"listen", "port", "udp-port", "memory-limit", "user", "daemon", "unix-socket",
                         "pidfile"})

_LONG = re.compile(r"^-(?P<short>\w), --(?P<long>[a-z][a-z0-9_-]*)(?:=<(?P<arg>[a-z]+)>)?\s+(?P<text>.*)$")
_EXTENDED = re.compile(r"^\s+- (?P<name>[a-z][a-z0-9_]*):\s*(?P<text>.*)$")
_CONTINUED = re.compile(r"^\s{10,}(?P<text>\S.*)$")
_SWITCH_TEXT = re.compile(r"^enable|\(default: (?:enabled|disabled)\)")
_NUMBER_DEFAULT = re.compile(r"\(default: \d")


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

    def __init__(self, address: str, port: int) -> None:
        super().__init__(RespClient(address, port, wire=TEXT), VERSION, judge)


@dataclass(frozen=True)
class Option:
    """One memcached option as a parameter: how to spell it and what `-h` says of it."""

    name: str            # the parameter name
    flag: str            # "--conn-limit" or "-o hot_lru_pct"
    kind: str            # value | switch | extended | extended-switch
    argument: str        # <num>, <bytes>, <name>, ... ('' for switches)
    text: str            # the help text, continuation lines joined
    negated: bool = False  # extended-switch listed as no_X: on by default, "0" renders no_X

    def render(self, value: str) -> list[str]:
        """argv words that set this option to value ([] when the engine's default is asked for)."""
        if self.kind == "value":
            return [f"{self.flag}={value}"]
        if self.kind == "switch":
            return [self.flag] if value == "1" else []
        option = self.flag.split()[1]
        if self.kind == "extended":
            return ["-o", f"{option}={value}"]
        if self.negated:
            return ["-o", f"no_{option}"] if value == "0" else []
        return ["-o", option] if value == "1" else []


def parse_help(text: str) -> dict[str, Option]:
    """Every option `memcached -h` lists, by parameter name (the help's order kept)."""
    options: dict[str, Option] = {}
    entries: list[list] = []  # [kind, name, flag, argument, text]
    for line in text.splitlines():
        if match := _LONG.match(line):
            long, arg = match["long"], match["arg"] or ""
            entries.append(["value" if arg else "switch", long, f"--{long}", f"<{arg}>" if arg else "",
                            match["text"]])
        elif match := _EXTENDED.match(line):
            entries.append(["extended", match["name"], match["name"], "", match["text"]])
        elif (match := _CONTINUED.match(line)) and entries:
            entries[-1][4] += " " + match["text"]
        elif not line.startswith(" "):
            entries.append(["ignored", "", "", "", ""])  # -vv, -D <char>, -W, ...: not parameters
    paired = {e[1][3:] for e in entries if e[0] == "extended" and e[1].startswith("no_")}
    for kind, long, flag, argument, help_text in entries:
        help_text = " ".join(help_text.split())
        if kind == "ignored":
            continue
        if kind == "extended":
            base = long[3:] if long.startswith("no_") else long
            if base in options:
                continue  # `modern` and `no_modern`: one parameter
            switch = base in paired or bool(_SWITCH_TEXT.search(help_text))
            negated = base in paired or "(default: enabled)" in help_text
            options[base] = Option(base, f"-o {base}", "extended-switch" if switch else "extended", "",
                                   help_text, negated)
        else:
            if kind == "switch" and _NUMBER_DEFAULT.search(help_text):
                kind, argument = "value", "<num>"  # `-R, --max-reqs-per-event` takes a number
            name = _NAME_OF_LONG.get(long, long.replace("-", "_"))
            options[name] = Option(name, flag, kind, argument, help_text)
    return options


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
        options = options_of(binary)
        for name, value in sorted(spec.parameters.items()):  # last flag wins in memcached
            argv += options[name].render(value)
        return argv

    def check_parameters(self, parameters: Mapping[str, str], binary: str | None = None) -> None:
        bad = sorted(n for n in parameters if not _NAME.match(n))
        if binary is not None:
            options = options_of(binary)
            bad += sorted(n for n in parameters if n not in options or
                          options[n].flag.lstrip("-") in AGENT_FLAGS)
        if bad:
            raise InvalidArgument(f"memcached does not take parameter(s) {', '.join(sorted(set(bad)))}")
        check_values(parameters)

    def session(self, address: str, spec: node_agent_pb2.NodeSpec) -> MemcachedSession:
        return MemcachedSession(address, spec.port)
