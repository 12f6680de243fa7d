"""Assemble the coordinator: store, registry, reconciler, DNS, and the gRPC server."""
from __future__ import annotations

import asyncio
import pathlib
import socket
import time
from dataclasses import dataclass, field

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cachefleet.v1 import cache_control_pb2, node_agent_pb2, node_agent_pb2_grpc
from cachefleet.v1 import cache_watch_pb2, cache_watch_pb2_grpc
from cachefleet.common.tls.authz import Authorization
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.transport import Transport

from cachefleet.common import serving
from cachefleet.common.objectstore.named import DEFAULT_STORE, STORE_NAME, StoreConfig

from coordinator.reconcile.agents import AgentClients
from coordinator.reconcile.certificates import NodeSigner
from coordinator.api.clusters import ClusterServicer
from coordinator.api.audit import Audit, Audited
from coordinator.api.events import EventServicer
from coordinator.api.fleet import Fleet
from coordinator.api.groups import ReplicationGroupServicer
from coordinator.api.parameter_use import ParameterGroupUse
from coordinator.api.parameters import ParameterGroupServicer
from coordinator.api.security_group_use import SecurityGroupUse
from coordinator.api.security_groups import SecurityGroupServicer
from coordinator.api.auth_use import AccessUse
from coordinator.api.users import UserServicer
from coordinator.api.service import CacheControl
from coordinator.api.snapshot_rules import FinalSnapshots, RestoreSources, SnapshotOverlay
from coordinator.api.snapshots import SnapshotServicer
from coordinator.api.versions import EngineVersionServicer
from coordinator.api.watch import CacheWatchService, HostMetricsService
from coordinator.domain import security_groups
from coordinator.domain.clock import Clock
from coordinator.domain.errors import ApiError
from coordinator.domain.heartbeat_pace import FENCE_SLACK, FleetPace, Pace
from coordinator.state.repos import ClusterRepo, GroupRepo, SecurityGroupRepo, UserGroupRepo, UserRepo
from coordinator.state.secrets import SecretBox
from coordinator.dns import make_backend
from coordinator.state.events import EventLog
from coordinator.metrics.metering import Meter
from coordinator.notifications import Notifier, Webhooks
from coordinator.parameters import ParameterGroupRepo
from coordinator.metrics.alarms import AlarmBook
from coordinator.metrics.prom import MetricsHttpServer
from coordinator.metrics.responsiveness import Responsiveness
from coordinator.metrics.store import DEFAULT_RETENTION_S, MetricStore
from coordinator.state.registry import HostRegistry
from coordinator.reconcile.clusters import Reconciler
from coordinator.api.access import coordinator_rule
from coordinator.api.access_keys import AccessKeyServicer
from coordinator.queryapi.dispatch import Dispatcher
from coordinator.queryapi.server import QueryApiServer
from coordinator.state import secrets
from coordinator.state.access_keys import AccessKeys
from coordinator.api.cert_expiry import ExpiryWatch
from coordinator.api.registry import HostRegistryService
from coordinator.api.coordinators import CoordinatorServicer
from coordinator.api.leadership import LeaderGate, Leadership
from coordinator.snapshots import SnapshotRepo, SnapshotRunner, SnapshotStorage
from coordinator.snapshots.restore import Restorer
from coordinator.snapshots.storage import own_config
from coordinator.domain.leadership import Member, Timing
from coordinator.state.election import Elector, leader_key, members_prefix
from coordinator.state.leaderstore import LeaderStore
from coordinator.state.store.base import Store
from coordinator.state.store.etcd import EtcdStore
from coordinator.state.store.etcdclient import EtcdClient
from coordinator.state.store.spec import StoreSpec, default_spec, open_store
from coordinator.state.store.spec import parse as parse_store_spec

log = structlog.get_logger("coordinator")


# what the health service reports SERVING on every coordinator, and on the one in office only
SERVICE_NAMES = (cache_control_pb2.DESCRIPTOR.services_by_name["CacheControl"].full_name,
                 cache_watch_pb2.DESCRIPTOR.services_by_name["CacheWatch"].full_name)
LEADER_SERVICE_NAMES = (node_agent_pb2.DESCRIPTOR.services_by_name["HostRegistry"].full_name,
                        node_agent_pb2.DESCRIPTOR.services_by_name["HostMetrics"].full_name)


@dataclass
class CoordinatorConfig:
    listen: str = "127.0.0.1:7420"
    state_dir: str = "state/coordinator"
    dns_backend: str = "hostsfile"
    dns_zone: str = "cachefleet.internal"
    dns_options: dict = field(default_factory=dict)
    host_timeout: float = 1.5          # silence after which a host is lost (and its primaries replaced)
    standalone_replace_after: float = 300.0   # a standalone redis node waits this long on its lost host
    heartbeat_interval: float = 0.2    # what agents are asked to keep
    lease: float = 1.0                 # how long an agent's primaries stay writable after a heartbeat
    # the fleet's heartbeats a second: past it the three above stretch together (domain/heartbeat_pace.py)
    heartbeats_per_second: float = 500.0
    reconcile_interval: float = 0.5    # a cycle at least this often, sooner when woken
    clock_offset_file: str | None = None   # tests: shift the wall clock (maintenance windows)
    # where snapshots go: the name of a store every agent is configured with; the coordinator's
    # own configuration of it is in `stores` (absent: the directory <state_dir>/snapshots)
    snapshot_store: str = DEFAULT_STORE
    stores: dict[str, StoreConfig] = field(default_factory=dict)
    notification_attempts: int = 6         # webhook POSTs per event before it is recorded as failed
    notification_backoff: float = 1.0      # seconds before the 2nd attempt, doubling after (max 60)
    metrics_listen: str | None = None      # HOST:PORT of the Prometheus /metrics endpoint (None: off)
    metrics_retention: float = DEFAULT_RETENTION_S   # seconds of 1-minute metric data kept
    notification_allow_local_targets: bool = False   # webhooks may point at loopback, link-local, metadata
    default_security_group_ingress: tuple[str, ...] = ()   # what `default` authorizes when first made
    # mTLS with the fleet CA's files; plaintext (Transport(None)) only when --insecure asked for it
    transport: Transport = field(default_factory=lambda: Transport(None))
    # TLS in transit: the CA (ca.crt, ca.key) that signs the engines' certificates ("": none,
    # and clusters with TransitEncryptionEnabled are refused)
    node_ca_dir: str = ""
    query_api_listen: str | None = None    # HOST:PORT of ElastiCache's Query API over HTTPS (None: off)
    # the key file sealing the secrets the store keeps: access keys' ("": <state_dir>/secrets.key),
    # and the replication passwords of groups with AUTH or user groups ("": such requests are refused)
    secrets_key_file: str = ""
    # the state store: "" for the SQLite file in state_dir, else sqlite:PATH or etcd://... (store/spec.py)
    state_store: str = ""
    state_store_tls: CredentialFiles | None = None   # what etcd is shown (None: plaintext)
    # on etcd, coordinators elect a leader: this one's name (default HOSTNAME/LISTEN) and the
    # leader lease's timing (domain/leadership.py)
    name: str = ""
    advertise: str = ""    # the endpoint followers send callers to, and describe-coordinators lists (default: listen)
    leader_timing: Timing = field(default_factory=lambda: Timing(ttl=3, renew_interval=0.5, retry_timeout=1.0))

    @property
    def endpoint(self) -> str:
        return self.advertise or self.listen

    def pace(self) -> FleetPace:
        return FleetPace(Pace(self.heartbeat_interval, self.lease, self.host_timeout), self.heartbeats_per_second)

    def coordinator_name(self) -> str:
        return self.name or f"{socket.gethostname()}/{self.listen}"

    def store_spec(self) -> StoreSpec:
        return parse_store_spec(self.state_store) if self.state_store else default_spec(self.state_dir)

    def check(self) -> None:
        """Lease arithmetic, checked at start-up.

        An agent fences its primaries `lease` after it SENT its last answered heartbeat
        (minus its fence margin); we declare its host lost `host_timeout` after we
        RECEIVED that heartbeat, which is later. So lease + FENCE_SLACK <= host_timeout
        means the old primary refuses writes before any replica is promoted in its place.
        The lease must also survive a few lost heartbeats.
        """
        if self.store_spec().kind == "etcd":   # a malformed --state-store is a ValueError at start-up
            self.leader_timing.check()
        if self.lease < 3 * self.heartbeat_interval:
            raise ValueError(f"lease {self.lease}s must cover at least 3 heartbeat intervals "
                             f"({3 * self.heartbeat_interval}s)")
        if self.standalone_replace_after < 0:
            raise ValueError(f"--standalone-replace-after must be >= 0, got {self.standalone_replace_after}")
        if not STORE_NAME.fullmatch(self.snapshot_store):
            raise ValueError(f"--snapshot-store names a store the agents have (lower-case [a-z0-9_-]), "
                             f"not a URL: got {self.snapshot_store!r}; give the URL with --store NAME=URL")
        if self.stores and self.snapshot_store not in self.stores:
            raise ValueError(f"--snapshot-store {self.snapshot_store!r} is none of the stores given with --store "
                             f"({', '.join(sorted(self.stores))})")
        for cidr in self.default_security_group_ingress:
            try:
                security_groups.cidr(cidr)
            except ApiError as exc:
                raise ValueError(f"--default-security-group-ingress: {exc.message}") from None
        if self.heartbeats_per_second <= 0:
            raise ValueError(f"--heartbeats-per-second must be more than 0, got {self.heartbeats_per_second}")
        if self.lease + FENCE_SLACK > self.host_timeout:
            raise ValueError(f"lease {self.lease}s + {FENCE_SLACK}s to apply the fence must not exceed the "
                             f"host timeout {self.host_timeout}s, or a replica could be promoted while the "
                             f"old primary still takes writes")


class Coordinator:
    def __init__(self, config: CoordinatorConfig):
        config.check()
        self.config = config
        state = pathlib.Path(config.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self.store, self.elector = self._open_store(config)
        self.deposed = asyncio.Event()   # set when this coordinator lost the leadership: it stops
        self._acts_from = 0.0            # on etcd: monotonic time from which the new leader may act
        self._in_office = False          # it runs the reconciler and the loops beside it (it leads)
        self.campaign: asyncio.Task | None = None   # on etcd: follow, then lead until deposed
        self.started = time.time()
        self.clock = Clock(config.clock_offset_file)
        self.repo = ClusterRepo(self.store)
        self.group_repo = GroupRepo(self.store)
        self.parameter_groups = ParameterGroupRepo(self.store)
        self.security_groups = SecurityGroupRepo(self.store)
        self.users, self.user_groups = UserRepo(self.store), UserGroupRepo(self.store)
        self.secrets = SecretBox.at(config.secrets_key_file) if config.secrets_key_file else None
        self.events = EventLog(self.store, self.clock)
        self.registry = HostRegistry(self.store, config.host_timeout, pace=config.pace())
        self.agents = AgentClients(config.transport, epoch=self._epoch)
        self.dns = make_backend(config.dns_backend, zone=config.dns_zone, **config.dns_options)
        self.metrics = MetricStore(self.clock, config.metrics_retention)
        self.meter = Meter(self.store, self.repo, self.clock)
        # backup and restore
        self.snapshot_storage = SnapshotStorage(own_config(config.snapshot_store, config.stores, state))
        self.snapshots = SnapshotRepo(self.store)
        self.access_keys = AccessKeys(self.store, secrets.load_or_create(config.secrets_key_file
                                                                         or state / "secrets.key"))
        self.reconciler = Reconciler(self.repo, self.group_repo, self.registry, self.agents, self.events,
                                     self.dns, interval=config.reconcile_interval, clock=self.clock,
                                     restorer=Restorer(self.agents, self.snapshot_storage, self.snapshots, self.repo,
                                                       self.events),
                                     meter=self.meter,   # observed in the cycle that changes a node
                                     on_node_gone=self.metrics.forget_node,   # deleted nodes leave the metrics
                                     standalone_replace_after=config.standalone_replace_after,
                                     acting=self._acting,
                                     signer=NodeSigner(config.node_ca_dir) if config.node_ca_dir else None,
                                     secrets=self.secrets)
        # webhook notifications: an outbox written with each event
        self.webhooks = Webhooks(config.notification_allow_local_targets)
        self.notifier = Notifier(self.store, self.repo, self.group_repo, self.events,
                                 config.notification_attempts, config.notification_backoff, webhooks=self.webhooks)
        self.notifier.attach()
        self.alarms = AlarmBook(self.store, self.metrics, self.events, self.clock)
        self.responsiveness = Responsiveness()
        self.metrics_http = (MetricsHttpServer(self.metrics, config.metrics_listen, self.responsiveness.collectors())
                             if config.metrics_listen else None)
        self.metrics_port = 0
        self.snapshot_runner = SnapshotRunner(self.snapshots, self.repo, self.group_repo, self.registry, self.agents,
                                              self.events, self.snapshot_storage, self.clock)
        self.cache_control = self._cache_control()
        self.expiry = ExpiryWatch(self.events, config.transport.files)
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.query_api = (QueryApiServer(Dispatcher(self.cache_control, self.access_keys), config.query_api_listen,
                                         config.transport.files) if config.query_api_listen else None)
        self.query_api_port = 0
        self._loops: list[asyncio.Task] = []   # the reconciler and the loops beside it
        self._health: health.aio.HealthServicer | None = None

    def _leads(self) -> bool:
        """In office: alone on SQLite, or the leader on etcd. Only then does it take heartbeats
        (they grant write leases only once a reconcile cycle has run, so not before `_acting`)
        and answer what a follower sends to the leader (api/leadership.py)."""
        return self._in_office and (self.elector is None or self.elector.leading)

    def _epoch(self) -> int:
        """The leader epoch sent to agents: on etcd, the creation revision of the leadership key
        this coordinator leads (or last led) with; on SQLite 0, there being no election."""
        return self.elector.epoch if self.elector is not None else 0

    def _leadership(self) -> Leadership:
        """What the gate in front of the API knows: whether we serve everything, else who leads."""
        assert self.elector is not None
        holder = self.elector.holder
        return Leadership(self.elector.name, self._leads(), holder.name if holder is not None else "",
                          self.elector.leader_endpoint)

    async def _roster(self) -> list[Member]:
        """The coordinators: on etcd, every one registered; on SQLite, this one, leading since it started."""
        if self.elector is not None:
            return await self.elector.roster()
        return [Member(self.config.coordinator_name(), self.config.endpoint, self.started, True, self.started)]

    def _acting(self) -> bool:
        """Whether this coordinator may reconcile now: alone on SQLite; on etcd while it leads,
        once every write lease its predecessor could have granted has run out. The API answers
        at once: what it records goes through the leader's guarded store."""
        return self._leads() and time.monotonic() >= self._acts_from

    @staticmethod
    def _open_store(config: CoordinatorConfig) -> tuple[Store, Elector | None]:
        """The state store; on etcd, as the leader writes it, with the elector it leads through
        (its own connection, whose calls time out after the leader's retry timeout)."""
        spec = config.store_spec()
        store = open_store(spec, config.state_store_tls)
        if not isinstance(store, EtcdStore):
            return store, None
        client = EtcdClient(spec.endpoints, tls=config.state_store_tls, timeout=config.leader_timing.retry_timeout)
        elector = Elector(client, config.coordinator_name(), leader_key(spec.prefix), config.leader_timing,
                          endpoint=config.endpoint, members=members_prefix(spec.prefix))
        return LeaderStore(store, elector), elector

    async def start(self) -> int:
        """Listen. Alone (SQLite), take office at once; on etcd, serve reads as a follower and
        campaign beside it (`campaign`), taking office when this coordinator leads."""
        if self.elector is None:
            await self._prepare_office()
        interceptors: list[grpc.aio.ServerInterceptor] = (
            [Authorization(coordinator_rule)] if self.config.transport.secure else [])
        if self.elector is not None:   # after the authorization: a refused caller learns nothing of the leader
            interceptors.append(LeaderGate(self._leadership))
        server = grpc.aio.server(   # limits; no SO_REUSEPORT
            **serving.server_settings(max_concurrent_rpcs=serving.COORDINATOR_MAX_CONCURRENT_RPCS),
            interceptors=interceptors)
        self.cache_control.add_to_server(server)
        node_agent_pb2_grpc.add_HostRegistryServicer_to_server(
            HostRegistryService(self.registry, self.reconciler.wake,
                                lambda host_id: self.reconciler.writable.get(host_id, []),
                                self.reconciler.roles_known, self.expiry,
                                leads=None if self.elector is None else self._leads, epoch=self._epoch,
                                responsiveness=self.responsiveness),
            server)
        cache_watch_pb2_grpc.add_CacheWatchServicer_to_server(
            Audited(CacheWatchService(self.metrics, self.alarms, self.clock), Audit(self.events)), server)
        HostMetricsService(self.metrics).add_to_server(server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            SERVICE_NAMES + LEADER_SERVICE_NAMES
            + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
        try:
            self.port = self.config.transport.add_port(server, self.config.listen)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise OSError(f"cannot listen on {self.config.listen}")
        await server.start()
        for name in SERVICE_NAMES + ("",):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for name in LEADER_SERVICE_NAMES:
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server = server
        if self.elector is None:
            await self._open_office()
        else:
            log.info("campaigning for the leadership; serving reads meanwhile", coordinator=self.elector.name,
                     listen=self.config.listen, port=self.port)
            self.campaign = asyncio.create_task(self._campaign(), name="campaign")
        return self.port

    async def _campaign(self) -> None:
        """Follow until this coordinator leads, then take office and lead until deposed."""
        assert self.elector is not None
        await self.elector.lead()
        self._acts_from = float("inf")   # not before the wait below is known
        self._loops.append(asyncio.create_task(self._keep_leading(), name="leadership"))
        await self._prepare_office()
        # after a leader's lease was revoked (its process gone), from when that lease would have ended;
        # the predecessor granted write leases for the fleet it knew, the hosts just loaded
        self._acts_from = (max(time.monotonic(), self.elector.predecessor_until)
                           + self.registry.current_pace().lease + FENCE_SLACK)
        await self._open_office()
        self._loops.append(asyncio.create_task(self._begin_acting(), name="begin acting"))

    async def _prepare_office(self) -> None:
        """What the one coordinator in office reads and writes before it answers everything."""
        await self.registry.load()
        await self.security_groups.ensure_default(self.clock(), self.config.default_security_group_ingress)
        await self.users.ensure_default(self.clock())
        await self.notifier.resume()   # what a previous run left undelivered
        await self.meter.load()

    async def _open_office(self) -> None:
        """Answer everything, and run the reconciler and the loops beside it; the Prometheus
        endpoint and the Query API listen on the coordinator in office only."""
        if self.metrics_http is not None:
            self.metrics_port = await self.metrics_http.start()
        if self.query_api is not None:
            self.query_api_port = await self.query_api.start()
        self._loops += [asyncio.create_task(self.registry.keep_time(), name="registry clock"),
                        asyncio.create_task(self.responsiveness.sample_loop_lag(), name="loop lag"),
                        asyncio.create_task(self.reconciler.run(), name="reconciler"),
                        asyncio.create_task(self.reconciler.firewall.run(), name="firewall"),
                        asyncio.create_task(self.snapshot_runner.run(), name="snapshots"),
                        asyncio.create_task(self.alarms.run(), name="alarms"),
                        asyncio.create_task(self._prune_metrics(), name="metrics prune"),
                        asyncio.create_task(self.expiry.run(), name="certificate expiry"),
                        asyncio.create_task(self.snapshot_storage.check(), name="snapshot store check")]
        self._in_office = True
        assert self._health is not None
        for name in LEADER_SERVICE_NAMES:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("coordinator started", listen=self.config.listen, port=self.port,
                 state_dir=self.config.state_dir, dns=self.config.dns_backend, zone=self.config.dns_zone)

    def _cache_control(self) -> CacheControl:
        """One servicer per resource, each given what it uses; the rules two of them share are
        small objects built once here."""
        fleet = Fleet(self.registry, signs_nodes=self.reconciler.signer is not None)
        parameters = ParameterGroupUse(self.parameter_groups, self.registry)
        restores = RestoreSources(self.snapshots, self.snapshot_storage)
        finals = FinalSnapshots(self.snapshots, self.snapshot_runner.wake, self.clock)
        overlay = SnapshotOverlay(self.snapshot_runner, self.snapshots, lambda: self._in_office)
        security = SecurityGroupUse(self.security_groups)
        access = AccessUse(self.user_groups, self.secrets)
        wake, zone = self.reconciler.wake, self.config.dns_zone
        return CacheControl(
            ClusterServicer(self.repo, self.group_repo, self.registry, self.events, wake, zone, fleet, parameters,
                            restores, finals, overlay, self.clock, self.webhooks, security, access),
            ReplicationGroupServicer(self.repo, self.group_repo, self.registry, self.events, wake, zone,
                                     self.reconciler.group_reconciler, fleet, parameters, restores, finals, overlay,
                                     self.clock, self.webhooks, security, access, leads=lambda: self._in_office),
            UserServicer(self.users, self.user_groups, self.group_repo, self.events, wake, self.clock),
            SecurityGroupServicer(self.security_groups, self.repo, self.events, self.reconciler.firewall.wake,
                                  self.clock),
            ParameterGroupServicer(self.parameter_groups, self.repo, self.events, wake, parameters, self.clock),
            SnapshotServicer(self.snapshots, self.repo, self.group_repo, self.events, self.snapshot_runner,
                             self.clock),
            EngineVersionServicer(fleet),
            EventServicer(self.events, self.meter, self.clock),
            AccessKeyServicer(self.access_keys, self.clock), CoordinatorServicer(self._roster),
            audit=Audit(self.events))

    async def _begin_acting(self) -> None:
        """The moment a new leader may act: the hosts' silence counts from then (agents are
        still finding it), and its first reconcile cycle runs at once."""
        await asyncio.sleep(max(self._acts_from - time.monotonic(), 0.0))
        self.registry.silence_from_now()
        self.reconciler.wake()

    async def _keep_leading(self) -> None:
        assert self.elector is not None
        sentence = await self.elector.keep()
        log.error("lost the leadership: stopping", coordinator=self.elector.name, reason=sentence)
        self.deposed.set()

    async def _prune_metrics(self) -> None:
        while True:
            await asyncio.sleep(300)
            self.metrics.prune()

    async def stop(self, grace: float = 2.0) -> None:
        tasks = self._loops + ([self.campaign] if self.campaign is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.snapshot_runner.stop()   # the snapshots its loop had started
        if self.metrics_http is not None:
            await self.metrics_http.stop()
        if self.query_api is not None:
            await self.query_api.stop()
        if self.server:
            await self.server.stop(grace)
        await self.notifier.close()   # after the reconciler: its last events still get their outbox records
        await self.agents.close()
        await self.dns.close()
        await self.store.close()
        if self.elector is not None:
            # revoke our own lease: the leadership key if we still hold it (the next coordinator
            # takes over at once) and our registration go with it; another's key is not touched
            await self.elector.resign()
            await self.elector.client.close()
        log.info("coordinator stopped")
