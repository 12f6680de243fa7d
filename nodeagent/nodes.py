"""Makes the nodes on this host match the specs asked for: program files, spec files, supervisord.

The only writer of programs/, nodes/ and data/. Every operation is idempotent,
because the coordinator re-sends desired state until observed state agrees.
Write order makes a crash at any point recoverable: data files (replication.conf)
and program file before spec file on ensure, spec file before program file on remove.

Engines with roles (redis) are started and restarted by the agent, not by
supervisord: one that died is started again at once, unless it is a primary. A
primary that came back empty would be followed by its replicas, which would drop
their data to copy its emptiness; so it stays down until the coordinator, which
knows whether a replica has taken over, asks for it again (EnsureNode).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog
from cachefleet.v1 import cache_control_pb2, node_agent_pb2

from nodeagent import acl, transit
from nodeagent.engines import ENGINES, Engine, Role
from nodeagent.enums import NodeStatus
from nodeagent.errors import AgentError, FailedPrecondition
from nodeagent.health import DOWN_STATES, HealthMonitor
from nodeagent.layout import StateDir, write_atomic
from nodeagent.lease import Lease
from nodeagent.parameters import ParameterApplier
from nodeagent.replication import ReplicationController
from nodeagent.setaside import remove_data
from nodeagent.specs import bind_address, check_node_key, program_fields, validate
from nodeagent.specstore import SpecStore
from nodeagent.stores import AgentStores
from nodeagent.supervisor import ProcessInfo, Supervisord, program_conf

log = structlog.get_logger("nodeagent.nodes")

NOT_RUNNING = frozenset({"STOPPED", "EXITED", "FATAL"})

QUICK_EXIT_S = 1     # exited within the second it started (supervisord counts seconds): it failed
MAX_BACKOFF_S = 8.0  # between starts of an engine that keeps failing


def held_primary(spec: node_agent_pb2.NodeSpec, engine: Engine, info: ProcessInfo | None, restart: bool) -> bool:
    """A primary with replicas (its spec names their agents) whose engine exited unasked is
    not started again by an EnsureNode: it would come back with whatever file it last saved
    (or empty) and its replicas would copy that. The coordinator sends the spec again for
    other reasons (the guard changes when the replicas' links break, which they do because
    the engine died), possibly before it has seen the death; only a failover replaces such a
    primary. A reboot or a new program is a decision to start it."""
    return (engine.has_roles and Role.of(spec.role) is Role.PRIMARY and bool(spec.peers)
            and info is not None and info.state == "EXITED" and not restart)


class NodeManager:
    def __init__(self, state: StateDir, supervisor: Supervisord, monitor: HealthMonitor,
                 replication: ReplicationController,
                 installs: Sequence[cache_control_pb2.EngineInstall],
                 addresses: Sequence[str], parameters: ParameterApplier | None = None,
                 engine_user: str | None = None, stores: AgentStores | None = None) -> None:
        self._state = state
        self._engine_user = engine_user   # supervisord runs the engines as it (None: as itself)
        self.parameters = parameters or ParameterApplier(state, monitor)
        self._supervisor = supervisor
        self._monitor = monitor
        self._replication = replication
        self._lease: Lease = replication.lease
        self._installs = list(installs)
        self._addresses = list(addresses)  # the main address first
        self._store = SpecStore(state)
        self._specs: dict[str, node_agent_pb2.NodeSpec] = {}
        # Nodes with roles (redis: replication, promotion) change one at a time, as before; the
        # others each under their own lock only, so that fifty memcached nodes start or stop at
        # once (supervisord's updates are batched: supervisor.py)
        self._lock = asyncio.Lock()
        self._node_locks: dict[str, asyncio.Lock] = {}
        self._ports: dict[str, tuple[str, int]] = {}   # node key -> the address and port it claimed
        self._restarting: dict[str, asyncio.Task[None]] = {}
        self._quick_exits: dict[str, int] = {}  # node key -> exits in a row soon after a start
        monitor.on_down = self.restart_soon
        from nodeagent.snapshots import Snapshots
        self.snapshots = Snapshots(self, stores or AgentStores({}, ""))

    @property
    def monitor(self) -> HealthMonitor:
        return self._monitor

    @property
    def state(self) -> StateDir:
        return self._state

    @property
    def installs(self) -> list[cache_control_pb2.EngineInstall]:
        return self._installs

    def spec(self, node_key: str) -> node_agent_pb2.NodeSpec | None:
        return self._specs.get(node_key)

    async def running(self, node_key: str) -> bool:
        """Whether supervisord has a process for node_key that is not stopped."""
        info = await self._supervisor.process_info(node_key)
        return info is not None and info.state not in NOT_RUNNING

    async def recover(self) -> None:
        """At agent start: take over what runs, without restarting anything that runs as specified.

        Existing program files are never re-rendered here, so an agent upgrade that
        renders differently does not restart engines; a new spec will.
        """
        specs = self._store.load_all()
        for conf in sorted(self._state.programs_dir.glob("*.conf")):
            if conf.stem not in specs:
                log.warning("removing program that has no spec", node_key=conf.stem)
                conf.unlink()
        for key, spec in specs.items():
            try:
                engine, install = validate(spec, self._installs, self._addresses)
            except AgentError as error:
                log.error("saved spec cannot run on this host", node_key=key, error=str(error))
                if spec.engine not in ENGINES:
                    continue
                engine, install = ENGINES[spec.engine], None
            self._write_data_files(spec, engine)
            if install is not None and not self._state.program_conf(key).exists():
                self._write_program(spec, engine, install)
            self.parameters.load(spec)
            self._specs[key] = spec
            self._monitor.track(spec, engine)
        await self._supervisor.update()
        await self._monitor.prime()  # engines with roles that are down are started from here
        log.info("recovered nodes", nodes={s.node_key: NodeStatus.of(s.status) for s in self._monitor.states()})

    async def ensure(self, spec: node_agent_pb2.NodeSpec) -> node_agent_pb2.NodeState:
        """Make the node run as spec says; returns at once, without waiting for the engine to serve."""
        engine, install = validate(spec, self._installs, self._addresses)
        key = spec.node_key
        transit.check(spec, self._state.data_dir(key))
        if self.snapshots.busy(key) and not await self.running(key):
            raise FailedPrecondition(f"node {key}: its data is being restored; start it after that",
                                     code="InvalidCacheClusterState")
        role_action = ""
        async with self._locked(key, serial=engine.has_roles):
            self._check_port_is_ours(spec)
            current = self._specs.get(key)
            applied = node_agent_pb2.NodeSpec()
            applied.CopyFrom(spec)
            if current is not None:
                applied.reboot_generation = max(spec.reboot_generation, current.reboot_generation)
            reboot = current is not None and spec.reboot_generation > current.reboot_generation
            changed = current is None or program_fields(current) != program_fields(spec)
            program_changed = False
            self._write_data_files(applied, engine)
            view = self._monitor.view(key)
            if current is not None and view is not None and view.live and not (changed or reboot):
                # TLS turned on or off: moved live, before the probes dial the engine the new way;
                # an engine that cannot move now keeps its spec and its files (the caller retries)
                try:
                    role_action = await self.parameters.switch_listeners(applied, bind_address(spec, self._addresses[0]))
                except FailedPrecondition:
                    self._write_data_files(current, engine)
                    raise
            before = await self._supervisor.process_info(key)
            # A program is rendered again only for an engine about to start: a parameter change
            # alone waits for the next start (nodeagent/parameters.py).
            starting = reboot or before is None or before.state in NOT_RUNNING
            if changed or starting or not self._state.program_conf(key).exists():
                program_changed = self._write_program(applied, engine, install)
            self._store.save(applied)
            self._specs[key] = applied
            if engine.has_roles:
                self._lease.decide(key, Role.of(spec.role) is Role.PRIMARY and not spec.write_fenced)
            self._monitor.track(applied, engine)
            view = self._monitor.view(key)
            if engine.has_roles and view is not None and view.live and not (program_changed or reboot):
                # First, on the process last seen running: a promotion is on the failover path.
                role_action = ", ".join(filter(None, [role_action, await self._replication.converge(key)]))
            info = await self._supervisor.process_info(key)
            held = held_primary(applied, engine, info, program_changed or reboot)
            if not held and (program_changed or info is None or reboot or info.state in NOT_RUNNING):
                await self._prepare_start(applied, engine)
                self.parameters.started(applied)  # what _converge is about to start reads
            action = "held" if held else await self._converge(key, info, program_changed, reboot)
            if action != "none":
                info = await self._supervisor.process_info(key)
            self._monitor.observe_process(key, info)
            parameter_action = await self.parameters.apply(key) if action == "none" else ""
        if held:
            log.warning("primary with replicas exited; not started again by this ensure: only a failover "
                        "replaces it", node_key=key)
        elif action != "none" or role_action or parameter_action:
            log.info("node ensured", node_key=key, action=action, role_action=role_action,
                     parameters_applied=parameter_action, pid=info.pid if info else 0)
        state = self._monitor.state(key)
        assert state is not None
        return self.parameters.report(state)

    async def _converge(self, key: str, info: ProcessInfo | None, program_changed: bool,
                        reboot: bool) -> str:
        """One supervisord action to bring the process in line; returns what it did."""
        if program_changed or info is None:
            with self._monitor.deliberate_restart(key):
                result = await self._supervisor.update(only={key})
                await self._supervisor.start(key)  # programs the agent starts itself (autostart=false)
            return "replaced" if key in result.changed else "added" if key in result.added else "none"
        if reboot:
            with self._monitor.deliberate_restart(key):
                await self._supervisor.restart(key)
            return "rebooted"
        if info.state in NOT_RUNNING:
            with self._monitor.deliberate_restart(key):
                await self._supervisor.start(key)
            return "started"
        return "none"

    async def remove(self, node_key: str, discard_data: bool = False) -> tuple[bool, str]:
        """Stop and forget a node: (False, "") when there was nothing to remove; else True and
        where its data was set aside ("" when it was deleted or there was none, setaside.py)."""
        check_node_key(node_key)
        current = self._specs.get(node_key)
        serial = current is None or current.engine not in ENGINES or ENGINES[current.engine].has_roles
        async with self._locked(node_key, serial):
            conf = self._state.program_conf(node_key)
            data = self._state.data_dir(node_key)
            known = (node_key in self._specs or conf.exists() or data.exists()
                     or await self._supervisor.process_info(node_key) is not None)
            if not known:
                return False, ""
            spec = self._specs.get(node_key)
            # A node the agent no longer has a spec of is judged by its files alone.
            keeps_data = spec is None or spec.engine not in ENGINES or ENGINES[spec.engine].persists_data
            self._store.delete(node_key)
            self._specs.pop(node_key, None)
            self._ports.pop(node_key, None)
            self._quick_exits.pop(node_key, None)
            self._monitor.forget(node_key)
            self._replication.forget(node_key)
            self.parameters.forget(node_key)
            conf.unlink(missing_ok=True)
            await self._supervisor.update(only={node_key})
            set_aside = remove_data(self._state, node_key, discard_data, keeps_data)
            for log_file in self._state.logs_dir.glob(f"{node_key}.log*"):
                log_file.unlink(missing_ok=True)
        log.info("node removed", node_key=node_key, data_discarded=discard_data, set_aside_path=set_aside)
        return True, set_aside

    def list(self) -> list[node_agent_pb2.NodeState]:
        return [self.parameters.report(state) for state in self._monitor.states()]

    def restart_soon(self, node_key: str) -> None:
        """The engine of node_key is down and supervisord will not start it: maybe we should."""
        if node_key not in self._restarting:
            task = asyncio.get_running_loop().create_task(self._restart_down(node_key),
                                                          name=f"restart {node_key}")
            self._restarting[node_key] = task
            task.add_done_callback(lambda _: self._restarting.pop(node_key, None))

    async def _restart_down(self, node_key: str) -> None:
        """Start a down engine again, unless it is a primary (see the module's docstring).

        At once the first time; an engine that keeps exiting right after its start (a
        port taken, a bad parameter) is started again less and less often.
        """
        info = await self._supervisor.process_info(node_key)
        if info is None or info.state not in DOWN_STATES:
            return
        quick = info.state == "EXITED" and info.stop - info.start < QUICK_EXIT_S
        failures = self._quick_exits[node_key] = self._quick_exits.get(node_key, 0) + 1 if quick else 0
        if failures:
            await asyncio.sleep(min(0.25 * 2 ** (failures - 1), MAX_BACKOFF_S))
        async with self._locked(node_key, serial=True):
            spec = self._specs.get(node_key)
            if spec is None or Role.of(spec.role) is Role.PRIMARY:
                return
            info = await self._supervisor.process_info(node_key)
            if info is None or info.state not in DOWN_STATES:
                return
            log.warning("engine is down; starting it again", node_key=node_key,
                        role=Role.of(spec.role) or "standalone", process_state=info.state,
                        failed_starts=failures)
            if spec.engine in ENGINES:
                await self._prepare_start(spec, ENGINES[spec.engine])
            # redis reads parameters.conf, written for this spec; its users only if its program (maybe
            # rendered by an agent before users existed) includes acl.conf, else the applier adds them
            self.parameters.started(spec, users_loaded=self._includes_users(node_key))
            await self._supervisor.start(node_key)
            self._monitor.observe_process(node_key, await self._supervisor.process_info(node_key))

    async def _prepare_start(self, spec: node_agent_pb2.NodeSpec, engine: Engine) -> None:
        """The engine's own file work before a start (redis: an AOF seeded from dump.rdb), off the
        loop; first, what the start will load is noted (startdata.py)."""
        data_dir = self._state.data_dir(spec.node_key)
        history = self._monitor.history
        history.flush(spec.node_key)     # the last write of the engine this start replaces

        def prepare() -> node_agent_pb2.StartData | None:
            data = history.record_start(spec, engine)
            engine.prepare_start(spec, data_dir)
            return data
        try:
            data = await asyncio.to_thread(prepare)
        except OSError as error:     # the engine starts anyway and says what it lacks
            log.error("data directory not prepared for the start", node_key=spec.node_key, error=str(error))
            return
        self._monitor.started_with(spec.node_key, data)
        if data is not None:
            log.info("engine starts with its data", node_key=spec.node_key,
                     source=node_agent_pb2.DataSource.Name(data.source), saved_unix_ms=data.saved_unix_ms,
                     last_write_unix_ms=data.last_write_unix_ms)

    def _includes_users(self, node_key: str) -> bool:
        try:
            return acl.ACL_CONF in self._state.program_conf(node_key).read_text()
        except OSError:
            return False

    @contextlib.asynccontextmanager
    async def _locked(self, node_key: str, serial: bool) -> AsyncIterator[None]:
        """The node's own lock, after the one all serial changes share (always in that order)."""
        async with contextlib.AsyncExitStack() as held:
            if serial:
                await held.enter_async_context(self._lock)
            await held.enter_async_context(self._node_locks.setdefault(node_key, asyncio.Lock()))
            yield

    def _check_port_is_ours(self, spec: node_agent_pb2.NodeSpec) -> None:
        """Refuse an address:port another node has, or has claimed in an ensure still under way;
        else claim it (checked and claimed in one step: ensures of other nodes run beside this)."""
        address = bind_address(spec, self._addresses[0])
        taken = {key: (bind_address(other, self._addresses[0]), other.port) for key, other in self._specs.items()}
        for key, claimed in [*taken.items(), *self._ports.items()]:
            if key != spec.node_key and claimed == (address, spec.port):
                raise FailedPrecondition(f"{address}:{spec.port} is already used by node {key}",
                                         code="PortInUse")
        self._ports[spec.node_key] = (address, spec.port)

    def _write_data_files(self, spec: node_agent_pb2.NodeSpec, engine: Engine) -> None:
        """What the engine reads at start besides its command line (redis: replication.conf)."""
        data_dir = self._state.make_data_dir(spec.node_key)
        for name, text in engine.data_files(spec, data_dir).items():
            write_atomic(data_dir / name, text, mode=0o640)    # the engine reads them
        transit.write_files(spec, data_dir)
        if engine.name == "redis":      # every redis program includes it, users or none
            acl.write_file(spec, data_dir, acl.agent_password(self._state))

    async def certificate_request(self, node_key: str) -> str:
        """A signing request for the node's TLS key, made on this host the first time."""
        check_node_key(node_key)
        async with self._locked(node_key, serial=True):
            data_dir = self._state.make_data_dir(node_key)
            return await asyncio.to_thread(transit.signing_request, data_dir, node_key)

    def _write_program(self, spec: node_agent_pb2.NodeSpec, engine: Engine,
                       install: cache_control_pb2.EngineInstall) -> bool:
        data_dir = self._state.data_dir(spec.node_key)
        argv = engine.command(install.path, spec, bind_address(spec, self._addresses[0]), data_dir)
        text = program_conf(spec.node_key, argv, data_dir, self._state.engine_log(spec.node_key),
                            supervised=not engine.has_roles, user=self._engine_user)
        return write_atomic(self._state.program_conf(spec.node_key), text, mode=0o640)
