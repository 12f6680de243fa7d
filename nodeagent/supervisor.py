"""Control of the agent's own supervisord over XML-RPC on a unix socket.

supervisord is started daemonized, so it outlives the agent: restarting or
upgrading the agent never restarts an engine. A starting agent re-attaches to
the supervisord whose socket answers and starts one only when none does.
Program files under programs/ are the desired state; update() applies them the
way `supervisorctl update` does.
"""
from __future__ import annotations

import asyncio
import functools
import grp
import http.client
import os
import pathlib
import pwd
import shlex
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from typing import Any
from collections.abc import Collection, Sequence

import psutil
import structlog
from supervisor.xmlrpc import Faults

from nodeagent.layout import StateDir, tail, write_atomic

log = structlog.get_logger("nodeagent.supervisor")


# --- errors: supervisor fault codes become typed exceptions here, and only here ---

class SupervisorError(Exception):
    """A call to supervisord failed; fault_code is supervisor's, 0 when it did not answer."""

    fault_code = 0


class SupervisorUnavailable(SupervisorError):
    """supervisord's socket did not answer (not started, dead, or hung)."""


class ShuttingDown(SupervisorError):
    pass


class BadName(SupervisorError):
    pass


class NoFile(SupervisorError):
    pass


class NotExecutable(SupervisorError):
    pass


class Failed(SupervisorError):
    pass


class AbnormalTermination(SupervisorError):
    pass


class SpawnError(SupervisorError):
    pass


class AlreadyStarted(SupervisorError):
    pass


class NotRunning(SupervisorError):
    pass


class AlreadyAdded(SupervisorError):
    pass


class StillRunning(SupervisorError):
    pass


class CantReread(SupervisorError):
    pass


# supervisor's own numbers (supervisor.xmlrpc.Faults) -> our exceptions: the one mapping table
_FAULTS: dict[int, type[SupervisorError]] = {
    Faults.SHUTDOWN_STATE: ShuttingDown,
    Faults.BAD_NAME: BadName,
    Faults.NO_FILE: NoFile,
    Faults.NOT_EXECUTABLE: NotExecutable,
    Faults.FAILED: Failed,
    Faults.ABNORMAL_TERMINATION: AbnormalTermination,
    Faults.SPAWN_ERROR: SpawnError,
    Faults.ALREADY_STARTED: AlreadyStarted,
    Faults.NOT_RUNNING: NotRunning,
    Faults.ALREADY_ADDED: AlreadyAdded,
    Faults.STILL_RUNNING: StillRunning,
    Faults.CANT_REREAD: CantReread,
}
SUCCESS = Faults.SUCCESS  # the status of a successful entry in the lists stop/startProcessGroup return


def error_from_fault(fault: xmlrpc.client.Fault) -> SupervisorError:
    """The typed exception for one supervisor fault (SupervisorError for the unknown ones)."""
    error = _FAULTS.get(fault.faultCode, SupervisorError)(fault.faultString)
    error.fault_code = fault.faultCode
    return error


# --- files ---

def supervisord_conf(state: StateDir) -> str:
    """supervisord's own config: everything inside the state directory.

    Its socket is the state directory's owner's and group's (the agent's), 0770: whoever
    reaches it runs programs as supervisord (root when engines switch uid), so an engine
    must not. Rendered from the directory, not the caller, so that the agent and the
    supervisord unit's ExecStartPre (root) write the same file.
    """
    return f"""\
; written by cachefleet-agent; programs/ holds one file per cache node
[unix_http_server]
file={state.supervisor_sock}
chmod=0770
chown={_owner(state.root)}

[supervisord]
logfile={state.supervisord_log}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={state.supervisord_pid}
childlogdir={state.logs_dir}
directory={state.root}
identifier=cachefleet-agent

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{state.supervisor_sock}

[include]
files = programs/*.conf
"""


def _owner(path: pathlib.Path) -> str:
    """USER:GROUP of path, by name where the system has one."""
    info = path.stat()
    try:
        user = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        user = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"{user}:{group}"


def program_conf(name: str, argv: Sequence[str], directory: pathlib.Path,
                 logfile: pathlib.Path, supervised: bool = True, user: str | None = None) -> str:
    """One engine as a supervisord program, run in the foreground.

    supervised: supervisord starts the engine and restarts it when it dies (a cache
    engine must serve again at once). Otherwise the agent does both itself, because
    whether to is a decision (a redis primary that died must not come back empty):
    then startsecs=0 too, or supervisord would retry an engine that exits in its first
    second. stopwaitsecs=10 is longer than an engine's clean shutdown. user: the engine
    user supervisord (root) drops to before it runs the engine (None: its own uid).
    """
    command = shlex.join(argv).replace("%", "%%")  # supervisord expands %(...)s in command
    auto = str(supervised).lower()
    user_line = f"user={user}\n" if user else ""
    return f"""\
; written by cachefleet-agent from nodes/{name}.json
[program:{name}]
command={command}
{user_line}directory={directory}
autostart={auto}
autorestart={auto}
startsecs={1 if supervised else 0}
startretries=3
stopwaitsecs=10
stopsignal=TERM
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logfile}
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=1
"""


# --- process information ---

@dataclass(frozen=True)
class ProcessInfo:
    """What supervisord says about one program's process."""

    name: str
    state: str          # STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN
    pid: int
    start: int          # unix seconds of the last start
    spawnerr: str
    description: str
    stop: int = 0       # unix seconds of the last stop or exit

    @classmethod
    def from_rpc(cls, info: dict[str, Any]) -> ProcessInfo:
        return cls(name=info["name"], state=info["statename"], pid=int(info["pid"]),
                   start=int(info["start"]), spawnerr=info.get("spawnerr", ""),
                   description=info.get("description", ""), stop=int(info.get("stop", 0)))


@dataclass(frozen=True)
class UpdateResult:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def of(self, names: Collection[str]) -> UpdateResult:
        """Only what concerns the programs named."""
        return UpdateResult([n for n in self.added if n in names], [n for n in self.changed if n in names],
                            [n for n in self.removed if n in names])


STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})   # removeProcessGroup takes these
STOP_WAIT_S = 15.0    # longer than a program's stopwaitsecs (10), after which supervisord SIGKILLs it
STOP_POLL_S = 0.02


# --- blocking client ---

class _UnixConnection(http.client.HTTPConnection):
    """HTTP to supervisord's unix socket, with a timeout so a hung supervisord cannot hang us."""

    def __init__(self, socket_path: pathlib.Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


class _UnixTransport(xmlrpc.client.Transport):
    """xmlrpc's transport over that socket: one kept-alive connection, made again after a failure."""

    def __init__(self, socket_path: pathlib.Path, timeout: float) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.timeout = timeout
        self._unix: _UnixConnection | None = None

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._unix is None:
            self._unix = _UnixConnection(self.socket_path, self.timeout)
        return self._unix

    def close(self) -> None:
        super().close()
        if self._unix is not None:
            self._unix.close()
            self._unix = None


class SupervisorClient:
    """Blocking XML-RPC client of one supervisord; every failure becomes a SupervisorError."""

    def __init__(self, socket_path: pathlib.Path, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self._transport = _UnixTransport(socket_path, timeout)
        self._proxy = xmlrpc.client.ServerProxy("http://localhost", self._transport)

    def call(self, method: str, *args: Any) -> Any:
        """Call e.g. 'supervisor.getAllProcessInfo'."""
        function = functools.reduce(getattr, method.split("."), self._proxy)
        try:
            return function(*args)
        except xmlrpc.client.Fault as fault:
            raise error_from_fault(fault) from None
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as error:
            self._transport.close()  # the next call reconnects
            raise SupervisorUnavailable(f"supervisord at {self.socket_path}: {error}") from None

    def close(self) -> None:
        self._transport.close()


# --- asyncio front ---

class Supervisord:
    """The agent's supervisord: started or re-attached, then driven one call at a time."""

    def __init__(self, state: StateDir, timeout: float = 30.0) -> None:
        self.state = state
        self._client = SupervisorClient(state.supervisor_sock, timeout)
        self._ping_client = SupervisorClient(state.supervisor_sock, timeout=2.0)
        self._lock = asyncio.Lock()
        self._update_lock = asyncio.Lock()
        self._waiting: list[tuple[frozenset[str] | None, asyncio.Future[UpdateResult]]] = []

    async def call(self, method: str, *args: Any) -> Any:
        """One XML-RPC call in a thread; calls are serialized (the transport is not thread-safe)."""
        async with self._lock:
            return await _finish_in_thread(self._client.call, method, *args)

    async def answers(self) -> bool:
        async with self._lock:
            try:
                state = await _finish_in_thread(self._ping_client.call, "supervisor.getState")
            except SupervisorError:
                return False
        return state.get("statename") == "RUNNING"

    async def ensure_running(self, timeout: float = 15.0) -> bool:
        """Attach to a supervisord that answers, or start one; True when one was started."""
        self.state.ensure()
        write_atomic(self.state.supervisord_conf, supervisord_conf(self.state), mode=0o640)
        if await self.answers():
            log.info("attached to running supervisord", pid=read_pid(self.state))
            return False
        await asyncio.to_thread(self._launch)
        deadline = time.monotonic() + timeout
        while not await self.answers():
            if time.monotonic() > deadline:
                raise SupervisorUnavailable(
                    f"supervisord did not answer within {timeout}s; its log ends: "
                    f"{tail(self.state.supervisord_log, 3)}")
            await asyncio.sleep(0.05)
        log.info("started supervisord", pid=read_pid(self.state))
        return True

    def _launch(self) -> None:
        # The foreground process exits once supervisord has daemonized (setsid, stdio on /dev/null).
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.state.supervisord_conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=30, cwd=self.state.root)
        if result.returncode != 0:
            raise SupervisorUnavailable(f"supervisord failed to start: {result.stdout.strip()}")

    async def update(self, only: Collection[str] | None = None) -> UpdateResult:
        """Apply the program files as `supervisorctl update` does: all of them, or only the
        programs named in `only` (another caller's new file waits for that caller's update).

        Callers that come while an update runs are served together by the next one: one
        reloadConfig for all of them, never two at once (supervisord's groups and its config
        would race). Each caller gets what happened to its own programs."""
        wanted = None if only is None else frozenset(only)
        done: asyncio.Future[UpdateResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((wanted, done))
        async with self._update_lock:
            if not done.done():
                batch, self._waiting = self._waiting, []
                asked = [w for w, _ in batch]
                names = None if None in asked else frozenset(n for w in asked if w is not None for n in w)
                try:
                    result = await self._apply(names)
                except asyncio.CancelledError:   # ours ends; the others' next holder of the lock goes on
                    self._waiting[:0] = [(w, f) for w, f in batch if f is not done]
                    raise
                except Exception as error:
                    for _, future in batch:
                        future.set_exception(error)
                    done.exception()   # ours is raised here, as it is; the others' by their own callers
                    raise
                for w, future in batch:
                    future.set_result(result if w is None else result.of(w))
        return await done

    async def _apply(self, names: frozenset[str] | None) -> UpdateResult:
        """One reloadConfig, then its changes to `names` (None: all). Groups to stop are stopped
        together, without waiting on each (an engine takes up to a second to exit on SIGTERM)."""
        added, changed, removed = (await self.call("supervisor.reloadConfig"))[0]
        result = UpdateResult(list(added), list(changed), list(removed))
        if names is not None:
            result = result.of(names)
        stopping = result.removed + result.changed
        for group in stopping:
            await self.call("supervisor.stopProcessGroup", group, False)
        await self._wait_stopped(stopping)
        for group in stopping:
            await self.call("supervisor.removeProcessGroup", group)
        for group in result.changed + result.added:
            await self.call("supervisor.addProcessGroup", group)
        if result.added or result.changed or result.removed:
            log.info("supervisord programs updated", added=result.added,
                     changed=result.changed, removed=result.removed)
        return result

    async def _wait_stopped(self, groups: Sequence[str], timeout: float = STOP_WAIT_S) -> None:
        """Until no process of groups runs (a program's group is named as the program)."""
        deadline = time.monotonic() + timeout
        while groups:
            infos = await self.call("supervisor.getAllProcessInfo")
            if not any(i["group"] in groups and i["statename"] not in STOPPED_STATES for i in infos):
                return
            if time.monotonic() > deadline:
                raise StillRunning(f"programs {', '.join(groups)} still running {timeout:g} s after their stop")
            await asyncio.sleep(STOP_POLL_S)

    async def all_process_info(self) -> dict[str, ProcessInfo]:
        infos = await self.call("supervisor.getAllProcessInfo")
        return {info["name"]: ProcessInfo.from_rpc(info) for info in infos}

    async def process_info(self, name: str) -> ProcessInfo | None:
        try:
            return ProcessInfo.from_rpc(await self.call("supervisor.getProcessInfo", name))
        except BadName:
            return None

    async def start(self, name: str) -> bool:
        """Start without waiting for startsecs; False when it was already starting or running."""
        try:
            await self.call("supervisor.startProcess", name, False)
        except AlreadyStarted:
            return False
        return True

    async def stop(self, name: str) -> bool:
        """Stop and wait until stopped; False when it was not running."""
        try:
            await self.call("supervisor.stopProcess", name, True)
        except NotRunning:
            return False
        return True

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    def close(self) -> None:
        self._client.close()
        self._ping_client.close()


async def _finish_in_thread(function: Any, *args: Any) -> Any:
    """Run function in a thread; if we are cancelled, still wait for it before returning.

    Otherwise the next call could use the shared transport while this one still does.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


# --- helpers shared with the launcher and the tests ---

def read_pid(state: StateDir) -> int | None:
    try:
        return int(state.supervisord_pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _running(process: psutil.Process) -> bool:
    """Whether process still runs: the same process (psutil tells a later one that reused its
    pid apart by start time), and not a zombie."""
    try:
        return process.is_running() and process.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False


def pid_alive(pid: int) -> bool:
    """Whether pid is a live process (not gone, not a zombie)."""
    try:
        return _running(psutil.Process(pid))
    except psutil.Error:
        return False


def shutdown_supervisord(state_dir: str | os.PathLike[str], timeout: float = 30.0) -> bool:
    """Stop the supervisord of state_dir and its engines; True once its pid is gone.

    For `cachefleet up` on Ctrl-C and for test teardown. Blocking. False when it
    is still alive at the deadline (it is then left alone: killing it would orphan engines).
    """
    state = StateDir.at(state_dir)
    pid = read_pid(state)
    supervisord = _supervisord(pid) if pid else None
    deadline = time.monotonic() + timeout
    client = SupervisorClient(state.supervisor_sock, timeout=timeout)
    # Stop every engine at once first: shutdown alone stops them one per ~1 s loop tick.
    for method, args in (("supervisor.stopAllProcesses", (True,)), ("supervisor.shutdown", ())):
        try:
            client.call(method, *args)
        except SupervisorError:
            pass  # not running, already shutting down, or a stop failed: the pid wait decides
    client.close()
    if supervisord is None:
        return True  # none was running (a stale pid file, or its pid reused by another process)
    while _running(supervisord):
        if time.monotonic() > deadline:
            log.warning("supervisord still running after shutdown", pid=pid, timeout=timeout)
            return False
        time.sleep(0.02)
    return True


def _supervisord(pid: int) -> psutil.Process | None:
    """The live supervisord that pid is (None: gone, or another process that reused a stale pid)."""
    try:
        process = psutil.Process(pid)
        if _running(process) and any("supervisord" in arg for arg in process.cmdline()):
            return process
    except psutil.Error:
        pass
    return None
