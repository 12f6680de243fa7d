"""Health of every node: supervisord's process state plus a TCP probe several times a second.

The coordinator's failover budget is about a second, so each node is probed
every 200 ms and any status change triggers a heartbeat at once instead of
waiting for the next tick.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Protocol
from collections.abc import Callable, Iterator

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent import acl, transit
from nodeagent.engines import Engine, ProbeResult, Session
from nodeagent.enums import NodeStatus, Role
from nodeagent.layout import StateDir, tail
from nodeagent.primary_sight import PrimarySight
from nodeagent.specs import bind_address
from nodeagent.startdata import DataHistory
from nodeagent.supervisor import ProcessInfo, SupervisorError

log = structlog.get_logger("nodeagent.health")

LIVE_STATES = frozenset({"STARTING", "RUNNING"})       # our process may be the one answering
STOPPED_STATES = frozenset({"STOPPED", "STOPPING"})     # stopped on purpose
DOWN_STATES = frozenset({"STOPPED", "EXITED"})          # not running, and supervisord will not start it
PRIMARY_HELD = "primary exited; waiting for the coordinator"
FAST_POLL_S = 0.02   # supervisord poll (and a replica's probe) interval right after a connection dropped
FAST_POLL_FOR_S = 0.5


def derive_status(process: ProcessInfo | None, probe: ProbeResult, unhealthy_for: float,
                  fail_after: float, log_tail: Callable[[], str],
                  primary: bool = False) -> tuple[NodeStatus, str]:
    """A node's status and the sentence saying why, from what supervisord and the probe say.

    primary: the node is a replication group's primary, which nobody but the coordinator
    starts again once it is down.
    """
    if process is None:
        return NodeStatus.STOPPED, "no such program in supervisord"
    if primary and process.state in DOWN_STATES:
        return NodeStatus.STOPPED, PRIMARY_HELD
    if process.state in STOPPED_STATES:
        return NodeStatus.STOPPED, ""
    if process.state == "FATAL":
        return NodeStatus.FAILED, (f"engine could not start ({process.spawnerr or 'FATAL'}); "
                                   f"log: {log_tail()}")
    live = process.state in LIVE_STATES
    if live and probe.ok:
        return NodeStatus.AVAILABLE, ""
    backoff = process.state == "BACKOFF"
    why = "engine exited during start-up, retrying" if backoff else probe.detail
    if not (live and probe.answered) and unhealthy_for >= fail_after:
        return NodeStatus.FAILED, (f"not serving for {unhealthy_for:.1f}s ({process.state}): "
                                   f"{why}; log: {log_tail()}")
    return NodeStatus.STARTING, f"{why}; log: {log_tail()}" if backoff else why


def _linked(node: _Node) -> bool:
    """A replica whose engine still says its link to the primary is up."""
    info = node.probe.replication
    return info is not None and info.link_status == node_agent_pb2.LINK_STATE_UP


class ProcessSource(Protocol):
    async def all_process_info(self) -> dict[str, ProcessInfo]: ...


@dataclass(frozen=True)
class NodeView:
    """What the replication controller needs to know of one node, at one instant."""

    node_key: str
    spec: node_agent_pb2.NodeSpec
    session: Session
    live: bool                                      # supervisord runs the process
    fenced: bool | None                             # None: not known (never answered)
    replication: node_agent_pb2.ReplicationInfo | None
    guarded: bool | None = None                     # the write guard is set (None: not known)


@dataclass
class _Node:
    spec: node_agent_pb2.NodeSpec
    engine: Engine
    session: Session
    process: ProcessInfo | None = None
    observed: bool = False  # supervisord was asked about it at least once
    probe: ProbeResult = ProbeResult(ok=False, answered=False, detail="not probed yet")
    probe_ok_unix_ms: int = 0
    unhealthy_since: float | None = field(default_factory=time.monotonic)
    restarts: int = 0
    last_pid: int = 0
    epoch: int = 0          # bumped around every deliberate restart: older observations are void
    busy: bool = False
    status: NodeStatus = NodeStatus.STARTING
    message: str = ""
    fenced: bool | None = None
    guarded: bool | None = None
    fence_seq: int = 0      # bumped when the agent sets the fence: older probe readings are void
    reported: tuple = ()    # what changed in it triggers a heartbeat
    # redis: what the running process held when it first served (what it loaded at its start)
    loaded: node_agent_pb2.LoadedData | None = None
    # redis: what its last start loaded, or while it is down what its next start will load
    start_data: node_agent_pb2.StartData | None = None
    down_inspected: bool = False    # start_data says what the files hold while it is down
    task: asyncio.Task[None] | None = None
    sight: PrimarySight | None = None   # a replica: whether this host reaches its primary's engine

    @property
    def replication(self) -> node_agent_pb2.ReplicationInfo | None:
        """What the engine said at the last probe, with what this host sees of its primary."""
        info = self.probe.replication
        if info is None or self.sight is None:
            return info
        seen = node_agent_pb2.ReplicationInfo()
        seen.CopyFrom(info)
        seen.primary_sight, seen.primary_unseen_ms = self.sight.state, self.sight.unseen_ms()
        return seen

    def watch_primary(self) -> None:
        """Keep a PrimarySight on the primary the spec follows (none unless a redis replica)."""
        spec = self.spec
        target = (spec.primary_address, spec.primary_port) \
            if self.engine.has_roles and Role.of(spec.role) is Role.REPLICA else None
        # a group turning TLS on or off: the primary's port now speaks the other way
        if self.sight is not None and (self.sight.target != target or self.sight.tls != transit.enabled(spec)):
            self.sight.close()
            self.sight = None
        if target is not None and self.sight is None:
            self.sight = PrimarySight(*target, ssl=transit.client_context(spec))

    @property
    def refuses_writes(self) -> bool:
        """NodeState.fenced: a master with the fence set (a replica refuses writes anyway)."""
        return bool(self.fenced) and self.replication is not None and Role.of(self.replication.role) is Role.PRIMARY


def session_identity(spec: node_agent_pb2.NodeSpec, address: str) -> tuple:
    """What a session depends on: a spec that changes none of it keeps its session."""
    return (bind_address(spec, address), spec.port, spec.parameters.get("requirepass", ""),
            spec.transit_encryption.mode, spec.transit_encryption.ca_pem, acl.managed(spec))


class HealthMonitor:
    """Tracks the nodes the agent runs; probes them and polls supervisord at a fixed rate."""

    def __init__(self, supervisor: ProcessSource, state: StateDir, address: str,
                 on_change: Callable[[], None], interval: float = 0.2,
                 probe_timeout: float = 0.15, fail_after: float = 3.0) -> None:
        self._supervisor = supervisor
        self._state = state
        self._address = address
        self._on_change = on_change
        # Called with a node key when an engine with roles is down and not a primary: the
        # node manager starts it again (supervisord does not restart those, see nodes.py).
        self.on_down: Callable[[str], None] = lambda node_key: None
        self.interval = interval
        self.probe_timeout = probe_timeout
        self.fail_after = fail_after
        self._nodes: dict[str, _Node] = {}
        self.history = DataHistory(state)
        self._poll_error = ""
        self._poll_soon = asyncio.Event()
        self._fast_poll_until = 0.0

    # --- what the node manager tells us ---

    def track(self, spec: node_agent_pb2.NodeSpec, engine: Engine) -> None:
        """Start watching a node, or take its new spec."""
        node = self._nodes.get(spec.node_key)
        if node is None:
            node = self._nodes[spec.node_key] = _Node(
                spec=spec, engine=engine, session=self._session(engine, spec))
            node.task = asyncio.get_running_loop().create_task(
                self._probe_loop(spec.node_key, node), name=f"probe {spec.node_key}")
            if engine.persists_data:
                node.start_data = self.history.last_start(spec.node_key)
            self._on_change()
        elif session_identity(spec, self._address) != session_identity(node.spec, self._address):
            node.session.close()
            node.session = self._session(engine, spec)
        node.spec, node.engine = spec, engine
        node.watch_primary()
        self._refresh(spec.node_key, node)

    def _session(self, engine: Engine, spec: node_agent_pb2.NodeSpec) -> Session:
        password = acl.agent_password(self._state) if acl.managed(spec) else ""
        return engine.session(bind_address(spec, self._address), spec, password)

    def forget(self, node_key: str) -> None:
        node = self._nodes.pop(node_key, None)
        self.history.forget(node_key)
        if node is not None:
            node.session.close()
            if node.sight is not None:
                node.sight.close()
            if node.task is not None:
                node.task.cancel()
            self._on_change()

    @contextlib.contextmanager
    def deliberate_restart(self, node_key: str) -> Iterator[None]:
        """Around a restart the agent makes itself: the new pid is not counted as a crash."""
        node = self._nodes.get(node_key)
        if node is None:
            yield
            return
        node.busy, node.epoch = True, node.epoch + 1
        try:
            yield
        finally:
            node.busy, node.epoch, node.last_pid = False, node.epoch + 1, 0
            node.probe = ProbeResult(ok=False, answered=False, detail="started by the agent; not probed yet")
            node.unhealthy_since = time.monotonic()
            self._refresh(node_key, node)

    def observe_process(self, node_key: str, info: ProcessInfo | None) -> None:
        node = self._nodes.get(node_key)
        if node is None or node.busy:
            return
        if info is not None and info.pid:
            if node.last_pid and info.pid != node.last_pid:
                node.restarts += 1
                log.warning("engine restarted", node_key=node_key, old_pid=node.last_pid,
                            pid=info.pid, restarts=node.restarts)
            node.last_pid = info.pid
        node.process, node.observed = info, True
        self._inspect_if_down(node)
        self._refresh(node_key, node)
        if node.engine.has_roles and info is not None and info.state in DOWN_STATES \
                and Role.of(node.spec.role) is not Role.PRIMARY:
            self.on_down(node_key)

    def started_with(self, node_key: str, data: node_agent_pb2.StartData | None) -> None:
        """The agent is about to start the node's engine, which loads data."""
        node = self._nodes.get(node_key)
        if node is not None and data is not None:
            node.start_data, node.down_inspected = data, True

    def _inspect_if_down(self, node: _Node) -> None:
        """While an engine that keeps data is down, say what its next start would load
        (read once each time it goes down: nothing else writes its files meanwhile)."""
        if not node.engine.persists_data:
            return
        if node.process is not None and node.process.state in LIVE_STATES:
            node.down_inspected = False
        elif not node.down_inspected:
            node.start_data, node.down_inspected = self.history.inspect(node.spec, node.engine), True

    def observe_fence(self, node_key: str, fenced: bool, guarded: bool = False) -> None:
        """The agent has just set the fence and guard: probe readings taken before this are void."""
        node = self._nodes.get(node_key)
        if node is not None:
            node.fenced, node.guarded, node.fence_seq = fenced, guarded, node.fence_seq + 1
            self._refresh(node_key, node)

    def views(self) -> list[NodeView]:
        return [self._view(key, node) for key, node in self._nodes.items()]

    def view(self, node_key: str) -> NodeView | None:
        node = self._nodes.get(node_key)
        return None if node is None else self._view(node_key, node)

    @staticmethod
    def _view(node_key: str, node: _Node) -> NodeView:
        live = node.process is not None and node.process.state in LIVE_STATES
        return NodeView(node_key, node.spec, node.session, live, node.fenced, node.replication, node.guarded)

    async def probe_now(self, node_key: str) -> None:
        node = self._nodes.get(node_key)
        if node is not None:
            await self._probe(node_key, node)

    # --- what we report ---

    def state(self, node_key: str) -> node_agent_pb2.NodeState | None:
        node = self._nodes.get(node_key)
        return None if node is None else self._to_proto(node_key, node)

    def states(self) -> list[node_agent_pb2.NodeState]:
        return [self._to_proto(key, node) for key, node in sorted(self._nodes.items())]

    @staticmethod
    def _to_proto(node_key: str, node: _Node) -> node_agent_pb2.NodeState:
        return node_agent_pb2.NodeState(
            node_key=node_key, spec=node.spec, status=node.status.proto,
            process_state=node.process.state if node.process else "",
            pid=node.process.pid if node.process else 0, healthy=node.probe.ok,
            message=node.message, restarts=node.restarts, probe_ok_unix_ms=node.probe_ok_unix_ms,
            replication=node.replication, fenced=node.refuses_writes,
            aof_enabled=node.probe.data.aof_enabled if node.probe.data else False,
            keys=node.probe.data.keys if node.probe.data else 0, loaded=node.loaded,
            start_data=node.start_data)

    # --- loops ---

    async def prime(self) -> None:
        """One poll and one probe of every node, so the first heartbeat after a start is accurate."""
        await self._poll()
        await asyncio.gather(*(self._probe(key, node) for key, node in list(self._nodes.items())))

    async def run(self) -> None:
        """Poll supervisord every interval until cancelled; probes run in their own tasks.

        Right after an engine dropped the agent's connection, poll every FAST_POLL_S for a
        while: supervisord reaps a dead engine within milliseconds, and so we learn it.
        """
        try:
            while True:
                started = time.monotonic()
                self._poll_soon.clear()
                await self._poll()
                interval = FAST_POLL_S if started < self._fast_poll_until else self.interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poll_soon.wait(),
                                           max(0.0, interval - (time.monotonic() - started)))
        finally:
            for node in self._nodes.values():
                node.session.close()
                if node.sight is not None:
                    node.sight.close()
                if node.task is not None:
                    node.task.cancel()

    def poll_soon(self) -> None:
        """Ask supervisord now, and often for a short while (an engine may just have died)."""
        self._fast_poll_until = time.monotonic() + FAST_POLL_FOR_S
        self._poll_soon.set()

    async def _poll(self) -> None:
        epochs = {key: node.epoch for key, node in self._nodes.items()}
        try:
            infos = await self._supervisor.all_process_info()
        except SupervisorError as error:
            if str(error) != self._poll_error:
                log.error("cannot read process states from supervisord", error=str(error))
            self._poll_error = str(error)
            return
        if self._poll_error:
            log.info("supervisord answers again")
            self._poll_error = ""
        for key, epoch in epochs.items():
            node = self._nodes.get(key)
            if node is not None and node.epoch == epoch:
                self.observe_process(key, infos.get(key))

    async def _probe_loop(self, node_key: str, node: _Node) -> None:
        """Probe at a fixed rate (start to start), not interval plus the probe's own time.

        A session that keeps a connection open (redis) is probed again at once when the
        engine drops it, and supervisord is asked right away: a killed engine is reported
        within milliseconds instead of at the next tick. A replica is probed again at once,
        and then every FAST_POLL_S until its engine says its link is down, when its primary
        drops this host's sight connection (PrimarySight): its primary's process is gone.
        """
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        fast_until = 0.0    # a replica's primary just dropped us: probe often until its link is seen down
        while True:
            await self._probe(node_key, node)
            next_at += self.interval
            if loop.time() < fast_until and _linked(node):
                next_at = loop.time() + FAST_POLL_S
            if next_at < loop.time():  # fell behind: do not burst to catch up
                next_at = loop.time()
            session, sight = node.session, node.sight
            dropped = loop.create_task(session.dropped())
            # (not watched again within the fast window: a primary that keeps dropping us gets
            # at most one early probe per FAST_POLL_FOR_S)
            lost = loop.create_task(sight.dropped()) if sight is not None and loop.time() >= fast_until else None
            try:
                done, _ = await asyncio.wait([t for t in (dropped, lost) if t is not None],
                                             timeout=next_at - loop.time(), return_when=asyncio.FIRST_COMPLETED)
            finally:
                dropped.cancel()
                if lost is not None:
                    lost.cancel()
            if dropped in done and session is node.session:
                log.info("engine dropped the agent's connection", node_key=node_key)
                self.poll_soon()
                next_at = loop.time()
            elif lost is not None and lost in done and sight is node.sight:
                # The primary's process went (the kernel closed our connection to it): the
                # replica's own link broke at the same instant. Say so now, not at the next
                # tick: the coordinator chooses whom to promote once every replica has.
                log.info("primary dropped this host's connection to it", node_key=node_key)
                next_at, fast_until = loop.time(), loop.time() + FAST_POLL_FOR_S

    async def _probe(self, node_key: str, node: _Node) -> None:
        epoch, fence_seq = node.epoch, node.fence_seq
        try:
            sight = node.sight
            if sight is not None:
                result, _ = await asyncio.gather(node.session.probe(self.probe_timeout),
                                                 sight.look(self.probe_timeout))
            else:
                result = await node.session.probe(self.probe_timeout)
        except Exception as error:  # a probe must never kill its loop
            log.exception("probe failed unexpectedly", node_key=node_key)
            result = ProbeResult(ok=False, answered=False, detail=f"probe error: {error}")
        if node.epoch == epoch and not node.busy:
            node.probe = result
            if result.ok:
                node.probe_ok_unix_ms = int(time.time() * 1000)
            if result.fenced is not None and node.fence_seq == fence_seq:
                node.fenced, node.guarded = result.fenced, result.guarded
            self._note_loaded(node_key, node, result)
            if node.engine.persists_data:
                self.history.observe(node_key, result)
            self._refresh(node_key, node)

    @staticmethod
    def _note_loaded(node_key: str, node: _Node, result: ProbeResult) -> None:
        """The first time a process (a run id) serves, what it holds is what it loaded."""
        if not result.ok or result.data is None or result.replication is None or not result.replication.run_id:
            return
        if node.loaded is not None and node.loaded.run_id == result.replication.run_id:
            return
        node.loaded = node_agent_pb2.LoadedData(run_id=result.replication.run_id, aof=result.data.aof_enabled,
                                                keys=result.data.keys)
        log.info("engine serves its loaded data", node_key=node_key, aof=result.data.aof_enabled,
                 keys=result.data.keys, run_id=result.replication.run_id)

    def _refresh(self, node_key: str, node: _Node) -> None:
        now = time.monotonic()
        unhealthy_for = now - (node.unhealthy_since if node.unhealthy_since is not None else now)
        if node.observed:
            status, message = derive_status(node.process, node.probe, unhealthy_for, self.fail_after,
                                            lambda: tail(self._state.engine_log(node_key), 3),
                                            primary=Role.of(node.spec.role) is Role.PRIMARY)
        else:
            status, message = NodeStatus.STARTING, "being set up"
        if status is NodeStatus.AVAILABLE:
            node.unhealthy_since = None
        elif node.unhealthy_since is None:
            node.unhealthy_since = now
        changed = status is not node.status
        node.status, node.message = status, message
        if changed:
            log.info("node status changed", node_key=node_key, status=status.value,
                     message=message, process_state=node.process.state if node.process else "")
        replication = node.replication or node_agent_pb2.ReplicationInfo()
        reported = (status, replication.role, replication.link_status, replication.sync_in_progress,
                    replication.run_id, node.refuses_writes, replication.primary_sight,
                    node.loaded.run_id if node.loaded else "")
        if reported != node.reported:
            if not changed and node.reported:
                log.info("node replication changed", node_key=node_key, role=Role.of(replication.role),
                         link_status=node_agent_pb2.LinkState.Name(replication.link_status),
                         fenced=node.refuses_writes,
                         primary_sight=node_agent_pb2.PrimarySight.Name(replication.primary_sight),
                         sync_in_progress=replication.sync_in_progress, run_id=replication.run_id)
            node.reported = reported
            self._on_change()
