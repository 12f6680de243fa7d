"""redis-server: command line, parameters.conf (parameters, read at start), replication roles, probe and control.

The role is not on the command line: every redis program includes
`<data_dir>/replication.conf`, which the agent rewrites at each role change and
applies live (REPLICAOF, CONFIG SET), so a role change never changes the
supervisord program and never restarts the engine, while a process that does
restart comes up in its current role.

Fencing uses `min-replicas-to-write`: set to FENCE, a master refuses every write
with -NOREPLICAS (nothing is queued, unlike CLIENT PAUSE); 0 lifts it. Set to 1 it is
the write guard: the master takes writes only while a replica has acknowledged within
`min-replicas-max-lag` (1 s), so a primary cut off from its replicas stops writing by
itself, even when its agent is frozen or dead and cannot fence it.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
from collections.abc import Mapping

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent import acl, transit
from nodeagent.engines import rdb
from nodeagent.engines.base import ClientSession, DataState, Engine, ProbeResult, check_values
from nodeagent.enums import Role
from nodeagent.errors import InvalidArgument
from nodeagent.layout import open_in_data_dir
from nodeagent.resp import Command, RespClient, RespError

log = structlog.get_logger("nodeagent.engines.redis")

FENCE = 2147483647  # the largest min-replicas-to-write redis accepts: no master ever has that many
GUARD = 1           # min-replicas-to-write of a guarded primary: one replica must keep up
GUARD_MAX_LAG = 1   # seconds since a replica's last acknowledgement for it to count (the least redis can say)
REPLICATION_CONF = "replication.conf"
RDB_FILE = "dump.rdb"
AOF_FILE = "appendonly.aof"          # before 7.0 the AOF; 7.0 takes one in as its base at start
AOF_DIR = "appendonlydir"            # 7.0's AOF: base and incremental files and a manifest
PARAMETERS_CONF = "parameters.conf"
TLS_CONF = "tls.conf"     # which certificate files: names redis resolves in its `dir`
LISTEN_CONF = "listen.conf"   # port and tls-port: moved live when the mode changes
# One INFO per section: INFO with several sections is 7.0's; 6.0 answers it with a syntax error.
# persistence and keyspace: what a restarted node loaded, reported to the coordinator (cheap:
# a few counters and one line per database).
INFO_SECTIONS = ("server", "replication", "stats", "persistence", "keyspace")
# Both write-guard settings: either one at 0 lifts the guard and the fence (redis checks
# min-replicas-to-write only while min-replicas-max-lag is non-zero), so both are watched.
GUARD_SETTINGS = ("min-replicas-to-write", "min-replicas-max-lag")
PROBE: list[Command] = [("PING",), *(("INFO", section) for section in INFO_SECTIONS),
                        ("CONFIG", "GET", "min-replicas-*")]
# INFO replication's `role` and `master_link_status` in the protocol's words.
REDIS_ROLES = {"master": Role.PRIMARY, "slave": Role.REPLICA}
LINK_STATES = {"up": node_agent_pb2.LINK_STATE_UP, "down": node_agent_pb2.LINK_STATE_DOWN}


def replication_conf(spec: node_agent_pb2.NodeSpec) -> str:
    """What a (re)started process reads: a replica follows its primary, a primary starts fenced.

    A replica never starts as an empty primary; a primary takes writes only once the
    agent lifts the fence (a valid lease, authorized). A standalone node is never fenced.
    """
    lines = ["# written by cachefleet-agent at every role change; included by the command line"]
    if Role.of(spec.role) is Role.REPLICA:
        lines.append(f"replicaof {spec.primary_address} {spec.primary_port}")
    lines.append(f"min-replicas-to-write {FENCE if spec.role else 0}")
    lines.append(f"min-replicas-max-lag {GUARD_MAX_LAG}")
    return "\n".join(lines) + "\n"


def parameters_conf(spec: node_agent_pb2.NodeSpec) -> str:
    """What a (re)started process reads after the command line's defaults: maxmemory and the
    spec's parameters. The agent rewrites it at every spec change; values without a space are
    written as they are, multi-word ones (`save 900 1`) as words, empty ones as ""."""
    lines = ["# written by cachefleet-agent at every spec change; read at the next start",
             f"maxmemory {spec.max_memory_mb}mb"]
    for name, value in sorted(spec.parameters.items()):
        lines.append(f"{name} {value}" if value.strip() else f'{name} ""')
    return "\n".join(lines) + "\n"


def tls_conf(spec: node_agent_pb2.NodeSpec) -> str:
    """The certificate and CA bundle a (re)started process loads; a running one is told of new
    ones with CONFIG SET (nodeagent/parameters.py)."""
    return (f"# written by cachefleet-agent at every spec change\n"
            f"tls-cert-file {transit.cert_name(spec)}\ntls-ca-cert-file {transit.ca_name(spec)}\n")


def listen_conf(spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> str:
    """Where a (re)started process listens: TLS on the node's port (`port` is then the
    plaintext port: another one while clients migrate, else 0), else plaintext there. In a file,
    not on the command line, so that a change of mode is made live (nodeagent/listeners.py) and
    never by a new program (a restart). Replication runs over TLS; clients present no certificate."""
    lines = ["# written by cachefleet-agent at every spec change; included by the command line",
             f"port {transit.plaintext_port(spec)}"]
    if transit.enabled(spec):
        lines += [f"tls-port {spec.port}", f"tls-key-file {data_dir / transit.KEY_FILE}", "tls-auth-clients no",
                  "tls-replication yes", f"include {data_dir / TLS_CONF}"]
    return "\n".join(lines) + "\n"


def parse_info(text: str) -> dict[str, str]:
    """INFO's `field:value` lines (section headers and blank lines skipped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value.strip()
    return fields


def replication_info(fields: Mapping[str, str]) -> node_agent_pb2.ReplicationInfo:
    """ReplicationInfo from INFO server, replication and stats."""
    def number(name: str, default: int = 0) -> int:
        try:
            return int(fields.get(name, default))
        except ValueError:
            return default

    role = REDIS_ROLES.get(fields.get("role", ""), Role.STANDALONE)
    replica = role is Role.REPLICA
    link = fields.get("master_link_status", "") if replica else ""
    # Link down since: -1 (7.0), or the whole unix time (6.0, which counts from 0), when this
    # process never had a link: it holds only what it loaded at its start.
    down_since = number("master_link_down_since_seconds", -1)
    linked = link == "up" or 0 <= down_since <= number("uptime_in_seconds")
    online = sum(1 for name, value in fields.items()
                 if name.startswith("slave") and name[5:].isdigit() and "state=online" in value.split(","))
    return node_agent_pb2.ReplicationInfo(
        online_replicas=online if role is Role.PRIMARY else None,
        role=role.proto, link_status=LINK_STATES.get(link, node_agent_pb2.LINK_STATE_UNSPECIFIED),
        offset=number("slave_repl_offset" if replica else "master_repl_offset"),
        last_io_seconds_ago=number("master_last_io_seconds_ago", -1) if replica else 0,
        sync_in_progress=replica and fields.get("master_sync_in_progress") == "1",
        connected_replicas=number("connected_slaves"),
        full_syncs=number("sync_full"),
        primary_host=fields.get("master_host", "") if replica else "",
        primary_port=number("master_port") if replica else 0,
        run_id=fields.get("run_id", ""), linked_since_start=replica and linked)


def data_state(fields: Mapping[str, str]) -> DataState:
    """DataState from INFO persistence and keyspace (`db0:keys=12,expires=0,avg_ttl=0`)."""
    keys = 0
    for name, value in fields.items():
        if name.startswith("db") and name[2:].isdigit():
            for part in value.split(","):
                label, _, count = part.partition("=")
                if label == "keys" and count.isdigit():
                    keys += int(count)
    changes = fields.get("rdb_changes_since_last_save", "")
    return DataState(aof_enabled=fields.get("aof_enabled") == "1", keys=keys,
                     changes=int(changes) if changes.isdigit() else 0)


def judge(replies: list) -> ProbeResult:
    """The replies to PROBE: PING decides health; INFO and CONFIG GET give role and fence.

    INFO answers while PING says LOADING (a replica loading what its primary sent), so a
    sync in progress is reported even then.
    """
    ping, *infos, config = replies
    replication, fenced, guarded, data = None, None, None, None
    if all(isinstance(info, str) for info in infos):
        fields = parse_info("\n".join(infos))
        replication, data = replication_info(fields), data_state(fields)
    if isinstance(config, list) and len(config) % 2 == 0:
        settings = dict(zip(config[::2], config[1::2]))
        to_write, max_lag = (settings.get(name) for name in GUARD_SETTINGS)
        if to_write is not None and max_lag is not None:
            # a lag of 0 (or any other) is neither: the loop puts the agent's values back
            held = max_lag == str(GUARD_MAX_LAG)
            fenced, guarded = held and to_write == str(FENCE), held and to_write == str(GUARD)
    if ping == "PONG":
        return ProbeResult(ok=True, answered=True, replication=replication, fenced=fenced, guarded=guarded,
                           data=data)
    detail = str(ping) if isinstance(ping, RespError) else f"unexpected reply to PING: {ping!r}"
    if detail.startswith("LOADING"):
        detail = "loading the dataset"
    return ProbeResult(ok=False, answered=True, detail=detail[:200], replication=replication,
                       fenced=fenced, guarded=guarded, data=data)


class RedisSession(ClientSession):
    """The agent's connection to a redis node (AUTH and a client name first); PROBE is its probe."""

    def __init__(self, address: str, spec: node_agent_pb2.NodeSpec, agent_password: str = "") -> None:
        password = spec.parameters.get("requirepass")
        self.hello: list[Command] = [("AUTH", password)] if password else []
        self.hello += acl.hello(spec, agent_password)     # the agent's own ACL user, where it has one
        self.hello.append(("CLIENT", "SETNAME", "cachefleet-agent"))
        super().__init__(RespClient(address, spec.port, self.hello, ssl=transit.client_context(spec)),
                         PROBE, judge)


def fence_commands(fenced: bool, guarded: bool = False) -> list[Command]:
    """Fenced: no write at all; else guarded: writes only while a replica keeps up; else open.
    The lag is set too: an engine started by an older agent has redis's default (10 s)."""
    value = FENCE if fenced else GUARD if guarded else 0
    return [("CONFIG", "SET", "min-replicas-max-lag", str(GUARD_MAX_LAG)),
            ("CONFIG", "SET", "min-replicas-to-write", str(value))]


def has_aof(data_dir: pathlib.Path) -> bool:
    """An append-only file redis would load at a start with appendonly yes."""
    return (data_dir / AOF_FILE).exists() or any((data_dir / AOF_DIR).glob("*.manifest"))


def aof_files(data_dir: pathlib.Path) -> list[pathlib.Path]:
    """The files of the append-only file a start loads: 7.0's manifest lists its base and
    incremental files; before 7.0 (or seeded, not yet taken in) it is appendonly.aof."""
    manifest = next(iter(sorted((data_dir / AOF_DIR).glob("*.manifest"))), None)
    if manifest is None:
        single = data_dir / AOF_FILE
        return [single] if single.is_file() else []
    files = []
    try:
        lines = manifest.read_text().splitlines()
    except OSError:
        return []
    for line in lines:      # "file appendonly.aof.2.base.rdb seq 2 type b"
        words = line.split()
        if len(words) >= 2 and words[0] == "file":
            files.append(manifest.parent / words[1])
    return files


def _mtime_ms(path: pathlib.Path) -> int:
    try:
        stat = path.stat()
    except OSError:
        return 0
    return stat.st_mtime_ns // 1_000_000 if stat.st_size else 0


def start_data(data_dir: pathlib.Path, appendonly: bool) -> node_agent_pb2.StartData:
    """What a start of redis loads from data_dir, and when it was saved.

    With appendonly yes redis loads its AOF, whose last write is when its data was saved
    (an empty incremental file, made at a start or a rewrite, says nothing); else dump.rdb
    (with appendonly yes too: the agent seeds the AOF from it), saved when the fork that
    wrote it took its picture: its `ctime` field, or its mtime when it has none.
    """
    if appendonly and has_aof(data_dir):
        saved = max((_mtime_ms(path) for path in aof_files(data_dir)), default=0)
        return node_agent_pb2.StartData(source=node_agent_pb2.DATA_SOURCE_AOF, saved_unix_ms=saved)
    dump = data_dir / RDB_FILE
    if dump.is_file():
        saved = rdb.created_unix_ms(dump) or _mtime_ms(dump)
        return node_agent_pb2.StartData(source=node_agent_pb2.DATA_SOURCE_RDB, saved_unix_ms=saved)
    return node_agent_pb2.StartData(source=node_agent_pb2.DATA_SOURCE_EMPTY)


def seed_aof(data_dir: pathlib.Path) -> bool:
    """With appendonly yes redis loads only its AOF, and with none it starts EMPTY, even beside
    a dump.rdb (a restored snapshot, or the last one taken while the AOF was off). So before such
    a start, dump.rdb is copied to appendonly.aof: an RDB is a valid AOF (its preamble) to
    redis 6, and redis 7 takes an appendonly.aof without a manifest in as its base file.
    Returns whether it seeded."""
    dump = data_dir / RDB_FILE
    if has_aof(data_dir) or not dump.is_file():
        return False
    temp = data_dir / f".{AOF_FILE}.seed"
    # a copy, not a link: redis 6 appends to appendonly.aof (so its group, the engine's, may write)
    with open_in_data_dir(dump) as source, open_in_data_dir(temp, write=True, mode=0o660) as copy:
        shutil.copyfileobj(source, copy, 1 << 20)
        os.fsync(copy.fileno())
    saved = dump.stat()
    os.utime(temp, ns=(saved.st_atime_ns, saved.st_mtime_ns))   # its data is as old as the RDB's
    os.replace(temp, data_dir / AOF_FILE)
    return True


def _has_bytes(path: str, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the file holds needle (read in chunks that overlap by its length)."""
    try:
        with open(path, "rb") as file:
            tail = b""
            while block := file.read(chunk):
                if needle in tail + block:
                    return True
                tail = block[-len(needle):]
    except OSError:
        return False
    return False


class Redis(Engine):
    name = "redis"
    binary = "redis-server"
    version_args = ("--version",)
    has_roles = True
    persists_data = True
    start_time_fields = ("parameters", "immediate_parameters", "max_memory_mb")  # parameters.conf

    def parse_version(self, output: str) -> str | None:
        match = re.search(r"Redis server v=(\d+\.\d+\.\d+\S*)", output)
        return match.group(1) if match else None

    def command(self, binary: str, spec: node_agent_pb2.NodeSpec, address: str,
                data_dir: pathlib.Path) -> list[str]:
        argv = [binary, "--bind", address, "--include", str(data_dir / LISTEN_CONF), "--daemonize", "no",
                "--protected-mode", "no",
                "--maxmemory-policy", "volatile-lru", "--save", "", "--appendonly", "no",
                "--dir", str(data_dir), "--logfile", "",
                # a full sync starts at once, not 5 s later in case more replicas come
                "--repl-diskless-sync-delay", "0"]
        # Parameters (and maxmemory) are in a file, not on the command line: a change rewrites
        # the file and is applied live where redis allows, never by a new program (a restart).
        # So are the ACL users (acl.conf, written by the node manager, which knows the agent's
        # password): AUTH tokens and users come and go without a restart.
        return argv + ["--include", str(data_dir / acl.ACL_CONF), "--include", str(data_dir / PARAMETERS_CONF),
                       "--include", str(data_dir / REPLICATION_CONF)]

    def data_files(self, spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> dict[str, str]:
        files = {PARAMETERS_CONF: parameters_conf(spec), REPLICATION_CONF: replication_conf(spec),
                 LISTEN_CONF: listen_conf(spec, data_dir)}
        if transit.enabled(spec):
            files[TLS_CONF] = tls_conf(spec)
        return files

    def supports_tls(self, path: str) -> bool:
        """Built with TLS: only such a build knows the tls-* settings (the /opt 6.0.x builds do not)."""
        return _has_bytes(path, b"tls-cert-file")

    def prepare_start(self, spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> None:
        if spec.parameters.get("appendonly") == "yes" and seed_aof(data_dir):
            log.info("append-only file seeded from dump.rdb", node_key=spec.node_key)

    def start_data(self, spec: node_agent_pb2.NodeSpec,
                   data_dir: pathlib.Path) -> node_agent_pb2.StartData | None:
        return start_data(data_dir, spec.parameters.get("appendonly") == "yes")

    def check_parameters(self, parameters: Mapping[str, str], binary: str | None = None) -> None:
        check_values(parameters)
        for name, value in parameters.items():  # parameters.conf: a quote or backslash would end the value
            if any(c in value for c in "\"'\\"):
                raise InvalidArgument(f"redis parameter {name!r} has a quote or backslash in its value")

    def session(self, address: str, spec: node_agent_pb2.NodeSpec, agent_password: str = "") -> RedisSession:
        return RedisSession(address, spec, agent_password)
