"""Roles and fences of the redis nodes, applied live and kept in force.

Each redis node should be what its spec says: a primary (REPLICAOF NO ONE), a
replica of primary_address:primary_port, or standalone; and its write fence
(min-replicas-to-write, see engines/redis.py) should be set unless it may take
writes. A primary may take writes only while this host's lease is valid, the
coordinator authorized it and its spec is not write_fenced; a standalone node
always may; a replica keeps the fence set, so that nothing but the agent ever
makes it a writable primary.

`converge` applies a node's spec at once (EnsureNode calls it, a promotion is on
the failover path); `run` checks every node every 50 ms, and at the instant the
lease runs out, and converges those that differ: a lease running out, an
engine restarted (it comes up fenced from replication.conf), an EnsureNode that
failed half-way. It never waits on heartbeats: a coordinator that does not
answer cannot delay a fence. When the lease has run out it first gives the
failsafe one round (bounded by its timeout) to hear the replicas confirm: an
agent that was frozen, or whose coordinator is slow, wakes to a lease that
lapsed while the engine went on replicating, and fencing it before asking would
only fail writes for nothing. The engine's own guard covers that short wait.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent.engines import Role
from nodeagent.engines.redis import RedisSession, fence_commands, parse_info, replication_info
from nodeagent.health import HealthMonitor, NodeView
from nodeagent.lease import Lease
from nodeagent.resp import Command, RespError

log = structlog.get_logger("nodeagent.replication")


class Wanted(NamedTuple):
    """What a node should be now."""

    fenced: bool
    follow: tuple[str, int] | None  # the primary a replica follows; None: a master
    guarded: bool = False           # an unfenced primary: takes writes only while a replica keeps up


def wanted(spec: node_agent_pb2.NodeSpec, lease: Lease, now: float) -> Wanted:
    role = Role.of(spec.role)
    if role is Role.REPLICA:
        return Wanted(True, (spec.primary_address, spec.primary_port))
    if role is Role.PRIMARY:
        return Wanted(spec.write_fenced or not lease.may_write(spec.node_key, now), None, spec.write_guard)
    return Wanted(False, None)


def follows(info: node_agent_pb2.ReplicationInfo, primary: tuple[str, int]) -> bool:
    return Role.of(info.role) is Role.REPLICA and (info.primary_host, info.primary_port) == primary


def is_as_wanted(view: NodeView, want: Wanted) -> bool:
    """Whether what the node last reported matches want (unknown counts as not)."""
    info = view.replication
    if view.fenced is None or info is None or view.fenced != want.fenced:
        return False
    if not want.fenced and view.guarded != want.guarded:
        return False
    return Role.of(info.role) is Role.PRIMARY if want.follow is None else follows(info, want.follow)


class ReplicationController:
    def __init__(self, monitor: HealthMonitor, lease: Lease, interval: float = 0.05,
                 timeout: float = 0.2) -> None:
        self._monitor = monitor
        self.lease = lease
        self.interval = interval
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[str]] = {}
        self._errors: dict[str, str] = {}
        self._asked_for = 0.0   # the fence time the failsafe was last asked to push back

    def wake(self) -> None:
        """Check every node now (a heartbeat answer changed the lease or the authorized set)."""
        self._wake.set()

    async def run(self, before_fencing: Callable[[], Awaitable[None]] | None = None) -> None:
        """Converge every node that differs from what it should be, until cancelled;
        `before_fencing` (the failsafe's renew) runs once each time the lease runs out."""
        try:
            while True:
                self._wake.clear()
                now = time.monotonic()
                fence_at = self.lease.fence_at()
                lapsed = now >= fence_at and fence_at != self._asked_for and bool(self.lease.authorized)
                if before_fencing is not None and lapsed:
                    self._asked_for = fence_at
                    await before_fencing()
                    now = time.monotonic()
                for view in self._monitor.views():
                    if isinstance(view.session, RedisSession) and view.live \
                            and view.node_key not in self._tasks \
                            and not is_as_wanted(view, wanted(view.spec, self.lease, now)):
                        task = asyncio.create_task(self.converge(view.node_key),
                                                   name=f"converge {view.node_key}")
                        self._tasks[view.node_key] = task
                        task.add_done_callback(self._forget(view.node_key))
                timeout = self.interval
                if now < self.lease.fence_at():
                    timeout = min(timeout, self.lease.fence_at() - now)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        finally:
            for task in list(self._tasks.values()):
                task.cancel()

    def _forget(self, node_key: str) -> Callable[[asyncio.Task[str]], None]:
        """A done-callback that drops the node's finished task."""
        def forget(_: asyncio.Task[str]) -> None:
            self._tasks.pop(node_key, None)
        return forget

    async def converge(self, node_key: str) -> str:
        """Make the node what its spec says, live; returns what it did ('' when nothing)."""
        lock = self._locks.setdefault(node_key, asyncio.Lock())
        async with lock:
            view = self._monitor.view(node_key)
            if view is None or not isinstance(view.session, RedisSession):
                return ""
            started = time.monotonic()
            want = wanted(view.spec, self.lease, started)
            try:
                done = await self._apply(view, want)
            except (OSError, RespError) as error:  # down, hung, refused: the loop tries again
                self._report_error(node_key, f"{type(error).__name__}: {error}")
                return ""
            self._errors.pop(node_key, None)
            self._monitor.observe_fence(node_key, want.fenced, want.guarded)
            if done:
                log.info("replication changed", node_key=node_key, action=done, fenced=want.fenced,
                         follows=want.follow, elapsed_ms=round((time.monotonic() - started) * 1000, 1))
            await self._monitor.probe_now(node_key)
            return done

    async def _apply(self, view: NodeView, want: Wanted) -> str:
        session: RedisSession = view.session  # type: ignore[assignment]
        if want.follow is None:
            # REPLICAOF NO ONE does nothing on a master: no need to ask first (promotion is hot).
            was_replica = view.replication is not None and Role.of(view.replication.role) is Role.REPLICA
            await session.command([*fence_commands(want.fenced, want.guarded), ("REPLICAOF", "NO", "ONE")],
                                  self.timeout)
            return "promoted" if was_replica else ""
        host, port = want.follow
        (info,) = await session.command([("INFO", "replication")], self.timeout)
        current = replication_info(parse_info(info))
        if follows(current, want.follow):
            await session.command(fence_commands(True), self.timeout)
            return ""
        # Fence first: not one write between the decision and REPLICAOF. Then close the
        # clients' connections, so applications reconnect, resolve the endpoint again and
        # find the new primary instead of getting READONLY here forever.
        commands: list[Command] = [*fence_commands(True), ("REPLICAOF", host, str(port)),
                                   ("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"),
                                   ("CLIENT", "KILL", "TYPE", "pubsub")]
        await session.command(commands, self.timeout)
        return "demoted" if Role.of(current.role) is Role.PRIMARY else "repointed"

    def forget(self, node_key: str) -> None:
        self._locks.pop(node_key, None)
        self._errors.pop(node_key, None)

    def _report_error(self, node_key: str, error: str) -> None:
        if self._errors.get(node_key) != error:
            log.warning("cannot apply role or fence yet; retrying", node_key=node_key, error=error)
        self._errors[node_key] = error
