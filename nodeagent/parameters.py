"""Engine parameters: what each running engine has, and the immediate ones applied live.

A change of `parameters` never restarts an engine. Each engine reads its parameters
only when it starts: redis from `<data>/parameters.conf` (its command line includes the
file, and the agent rewrites it at every spec change), memcached from its command line
(the agent renders the supervisord program again only when it starts the engine: a
new node, a stopped one, or a higher reboot_generation). So a restart, and only a
restart, applies every value. Meanwhile the names a spec lists in
`immediate_parameters` (and, for redis, `max_memory_mb`) are applied to the running
redis with CONFIG SET as soon as they change, and retried every second until they take.

The agent remembers what each running engine has (`<data>/running.json`: the values it
started with, updated by each CONFIG SET that succeeded) and reports it in NodeState
(`applied_parameters`, `applied_max_memory_mb`), so the coordinator can tell which
values wait for a reboot. The file is written before the engine is started, so a
crashed agent never under-reports what a started engine runs.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent import acl, listeners, transit
from nodeagent.engines.base import ClientSession
from nodeagent.engines.memcached import MemcachedSession
from nodeagent.engines.redis import RedisSession
from nodeagent.errors import FailedPrecondition
from nodeagent.health import HealthMonitor
from nodeagent.layout import StateDir, write_atomic
from nodeagent.resp import Command, RespError

log = structlog.get_logger("nodeagent.parameters")

RUNNING_FILE = "running.json"


def live_commands(spec: node_agent_pb2.NodeSpec, running: dict[str, Any], redis: bool = True,
                  agent_password: str = "") -> list[Command]:
    """Commands that bring a running engine to spec's immediate values: CONFIG SET for redis;
    a renewed certificate (or CA bundle) for either engine, without a restart; redis's ACL
    users (AUTH tokens, users, the replication user) last."""
    tls = transit.files_in_use(spec)
    renew: list[Command] = []
    if tls and running.get("tls", {}) != tls:
        renew = [("CONFIG", "SET", "tls-cert-file", tls["cert"], "tls-ca-cert-file", tls["ca"])] if redis \
            else [("refresh_certs",)]
    if not redis:
        return renew
    have = running.get("parameters", {})
    commands: list[Command] = [("CONFIG", "SET", name, spec.parameters[name])
                               for name in sorted(spec.immediate_parameters)
                               if name in spec.parameters and have.get(name) != spec.parameters[name]]
    if running.get("max_memory_mb") != spec.max_memory_mb:
        commands.append(("CONFIG", "SET", "maxmemory", f"{spec.max_memory_mb}mb"))
    return commands + renew + acl.live_commands(spec, running.get("acl", {}), agent_password)


def running_values(spec: node_agent_pb2.NodeSpec, parameters: dict[str, str],
                   agent_password: str = "") -> dict[str, Any]:
    """What running.json says an engine has once spec's values took (listeners: as it started)."""
    return {"parameters": parameters, "max_memory_mb": spec.max_memory_mb, "tls": transit.files_in_use(spec),
            "acl": acl.applied(spec, agent_password),
            listeners.LISTEN: {**listeners.listeners(spec), "plaintext_below": 0}}


def describe(commands: list[Command]) -> str:
    """`maxmemory=100mb, tls-cert-file=tls-<fingerprint>.crt, ...` for a log line (file names,
    never a key's content)."""
    words = []
    for command in commands:
        if command[0] in ("ACL", "AUTH") or tuple(command[:3]) == ("CONFIG", "SET", "masteruser"):
            words.append(acl.describe(command))      # never a password, nor its hash
        elif tuple(command[:2]) == ("CONFIG", "SET"):
            words += [f"{name}={value}" for name, value in zip(command[2::2], command[3::2], strict=True)]
        else:
            words.append(" ".join(command))
    return ", ".join(words)


def _live(session: object) -> bool:
    """Sessions the applier talks to: redis (parameters, certificates), memcached (certificates)."""
    return isinstance(session, RedisSession | MemcachedSession)


class ParameterApplier:
    def __init__(self, state: StateDir, monitor: HealthMonitor, interval: float = 1.0,
                 timeout: float = 0.5) -> None:
        self._state = state
        self._monitor = monitor
        self.interval = interval
        self.timeout = timeout
        self._running: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._errors: dict[str, str] = {}

    # --- what runs ---

    def _path(self, node_key: str):
        return self._state.data_dir(node_key) / RUNNING_FILE

    def load(self, spec: node_agent_pb2.NodeSpec) -> None:
        """At agent start: what the engine runs, from its file (none: what its spec says)."""
        try:
            self._running[spec.node_key] = json.loads(self._path(spec.node_key).read_text())
        except (OSError, ValueError):
            self.started(spec)

    def _password(self, spec: node_agent_pb2.NodeSpec) -> str:
        return acl.agent_password(self._state) if acl.managed(spec) else ""

    def started(self, spec: node_agent_pb2.NodeSpec, users_loaded: bool = True) -> None:
        """The engine is about to be started from files written for spec: it will run spec's values
        (its ACL users too, unless its program does not load acl.conf: then they are applied live)."""
        running = running_values(spec, dict(spec.parameters), self._password(spec))
        if not users_loaded:
            running["acl"] = {}
        self._set(spec.node_key, running)

    def _set(self, node_key: str, running: dict[str, Any]) -> None:
        self._running[node_key] = running
        self._state.make_data_dir(node_key)
        write_atomic(self._path(node_key), json.dumps(running, sort_keys=True) + "\n")

    def forget(self, node_key: str) -> None:
        self._running.pop(node_key, None)
        self._locks.pop(node_key, None)
        self._errors.pop(node_key, None)

    def report(self, state: node_agent_pb2.NodeState) -> node_agent_pb2.NodeState:
        running = self._running.get(state.node_key)
        if running is not None:
            state.applied_parameters.update(running.get("parameters", {}))
            state.applied_max_memory_mb = running.get("max_memory_mb", 0)
        return state

    # --- applying live ---

    async def switch_listeners(self, spec: node_agent_pb2.NodeSpec, address: str) -> str:
        """Move a running redis to spec's TLS listeners (nodeagent/listeners.py); '' when there
        was nothing to move. FailedPrecondition when the engine cannot move now: it listens as
        before (CONFIG SET changes all or nothing)."""
        lock = self._locks.setdefault(spec.node_key, asyncio.Lock())
        async with lock:
            return await self._switch(spec, address, refuse=True)

    async def _switch(self, spec: node_agent_pb2.NodeSpec, address: str, refuse: bool = False) -> str:
        key = spec.node_key
        running = self._running.get(key)
        if spec.engine != "redis" or running is None or not listeners.pending(spec, running):
            return ""
        before = running[listeners.LISTEN]
        try:
            listen, disconnected = await listeners.switch(spec, running, self._state.data_dir(key), address,
                                                          self._password(spec))
        except (OSError, RespError) as error:
            message = f"{type(error).__name__}: {error}"
            if refuse:
                raise FailedPrecondition(f"node {key}: its engine cannot move its listeners now ({message}); "
                                         "it serves as before", code="InvalidCacheClusterState") from error
            if self._errors.get(key) != message:
                log.warning("cannot move the engine's listeners yet; retrying", node_key=key, error=message)
            self._errors[key] = message
            return ""
        self._errors.pop(key, None)
        self._set(key, {**running, listeners.LISTEN: listen, "tls": transit.files_in_use(spec)})
        done = (f"listeners moved live: plaintext port {before.get('port', 0)} -> {listen['port']}, "
                f"TLS port {before.get('tls_port', 0)} -> {listen['tls_port']}"
                + (f", {disconnected} plaintext client(s) disconnected" if disconnected else ""))
        log.info("transit encryption switched live", node_key=key, change=done)
        return done

    async def apply(self, node_key: str) -> str:
        """CONFIG SET what changed among the node's immediate values; '' when nothing was done."""
        lock = self._locks.setdefault(node_key, asyncio.Lock())
        async with lock:
            view = self._monitor.view(node_key)
            running = self._running.get(node_key)
            if view is None or running is None or not view.live or not _live(view.session):
                return ""
            spec, session = view.spec, view.session
            assert isinstance(session, ClientSession)
            if isinstance(session, RedisSession) and listeners.pending(spec, running):
                if not await self._switch(spec, session.address):
                    return ""
                running = self._running[node_key]
            commands = live_commands(spec, running, isinstance(session, RedisSession), self._password(spec))
            if not commands:
                return ""
            try:
                await session.command(commands, self.timeout)
            except (OSError, RespError) as error:  # down, loading, refused: the loop tries again
                message = f"{type(error).__name__}: {error}"
                if self._errors.get(node_key) != message:
                    log.warning("cannot apply parameters yet; retrying", node_key=node_key, error=message)
                self._errors[node_key] = message
                return ""
            self._errors.pop(node_key, None)
            applied = dict(running.get("parameters", {}))
            if isinstance(session, RedisSession):
                applied.update({name: spec.parameters[name] for name in spec.immediate_parameters
                                if name in spec.parameters})
            password = self._password(spec)
            self._set(node_key, {**running_values(spec, applied, password), listeners.LISTEN: running[listeners.LISTEN]}
                      if isinstance(session, RedisSession) and listeners.LISTEN in running
                      else running_values(spec, applied, password) if isinstance(session, RedisSession)
                      else {**running, "tls": transit.files_in_use(spec)})
            done = describe(commands)
            log.info("parameters applied live", node_key=node_key, applied=done)
            return done

    async def run(self) -> None:
        """Retry what could not be applied (the engine was down, loading, or busy)."""
        while True:
            await asyncio.sleep(self.interval)
            for view in self._monitor.views():
                running = self._running.get(view.node_key)
                if running is not None and view.live and _live(view.session) \
                        and (live_commands(view.spec, running, isinstance(view.session, RedisSession),
                                           self._password(view.spec))
                             or listeners.pending(view.spec, running)):
                    await self.apply(view.node_key)
