"""A real coordinator and a real agent API in this process, with mTLS and their real
interceptors, for tests of who may call what (tests/unit/security).

`SecureServers` runs, on one event loop in a thread of its own, the whole `Coordinator` (every
servicer, its Authorization interceptor, a SQLite store) on 127.0.0.1 port 0, and a
`NodeAgentService` behind the agent's interceptor whose supervisord is never started: every
call the tests let through is refused by the agent's own checks before it would need one (a
call that got further would answer UNAVAILABLE, not start anything). Tests dial them with
blocking channels under any identity of the fleet CA, or with credentials of their own.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc
from cachefleet.v1 import cache_control_pb2, node_agent_pb2, node_agent_pb2_grpc

from cachefleet.common import serving
from cachefleet.common.tls.authz import Authorization
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.fleetca import CertificateAuthority, Issued
from cachefleet.common.tls.identity import Identity, Role
from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from cachefleet.common.tls.transport import Transport
from coordinator.server import Coordinator, CoordinatorConfig
from nodeagent.access import agent_rule
from nodeagent.health import HealthMonitor
from nodeagent.layout import StateDir
from nodeagent.lease import Lease
from nodeagent.nodes import NodeManager
from nodeagent.replication import ReplicationController
from nodeagent.service import NodeAgentService
from nodeagent.supervisor import Supervisord

T = TypeVar("T")

# The fleet's identities by the name tests use; h1's agent is the one served here.
HOSTS = {"h1": ["127.0.0.1", "127.0.9.1"], "h2": ["127.0.9.2"]}
CLIENTS = (("readonly", Role.READONLY), ("operator", Role.OPERATOR), ("admin", Role.ADMIN))
# Hosts that heartbeat once are not declared lost (an event written) while the tests run.
HOST_TIMEOUT_S = 3600.0
REDIS = cache_control_pb2.EngineInstall(engine="redis", version="7.0.15", path="/usr/bin/redis-server")


class SecureServers:
    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.ca = FleetCaLayout(root / "ca")
        provision(self.ca.root, coordinator_sans=["127.0.0.1"], hosts=HOSTS, clients=CLIENTS)
        self.agent_state = StateDir.at(root / "agent")
        self.coordinator = Coordinator(CoordinatorConfig(
            listen="127.0.0.1:0", state_dir=str(root / "coordinator"), dns_backend="none",
            host_timeout=HOST_TIMEOUT_S, transport=Transport(self.ca.coordinator())))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="secure servers", daemon=True)
        self._agent_server: grpc.aio.Server | None = None
        self.endpoint = self.agent_endpoint = ""

    def start(self) -> SecureServers:
        self._thread.start()
        self.endpoint = f"127.0.0.1:{self.run(self.coordinator.start())}"
        self.agent_endpoint = f"127.0.0.1:{self.run(self._start_agent())}"
        return self

    async def _start_agent(self) -> int:
        self.agent_state.ensure()
        supervisor = Supervisord(self.agent_state)
        monitor = HealthMonitor(supervisor, self.agent_state, "127.0.0.1", on_change=lambda: None)
        nodes = NodeManager(self.agent_state, supervisor, monitor, ReplicationController(monitor, Lease(0.2)),
                            [REDIS], ["127.0.0.1"])
        host = node_agent_pb2.HostInfo(host_id="h1", address="127.0.0.1", engines=[REDIS])
        server = grpc.aio.server(**serving.server_settings(), interceptors=[Authorization(agent_rule)])
        node_agent_pb2_grpc.add_NodeAgentServicer_to_server(NodeAgentService(nodes, host), server)
        port = Transport(self.ca.host("h1")).add_port(server, "127.0.0.1:0")
        await server.start()
        self._agent_server = server
        return port

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run coroutine on the servers' loop (their state is touched only there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        async def stop() -> None:
            if self._agent_server is not None:
                await self._agent_server.stop(0)
            await self.coordinator.stop(0)
        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    # -- callers ----------------------------------------------------------------------------

    def files(self, who: str):
        """The credential files of a fleet identity: a client role name, a host id or 'coordinator'."""
        if who == "coordinator":
            return self.ca.coordinator()
        return self.ca.host(who) if who in HOSTS else self.ca.client(who)

    def channel(self, who: str, agent: bool = False) -> grpc.Channel:
        return grpc.secure_channel(self.agent_endpoint if agent else self.endpoint,
                                   load_channel_credentials(self.files(who)))

    def stranger_channel(self, issued: Issued | None, authority: CertificateAuthority | None = None,
                         agent: bool = False) -> grpc.Channel:
        """A channel that trusts the fleet CA and presents issued's certificate (None: none at all)."""
        ca_pem = self.ca.coordinator().ca.read_bytes()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca_pem, private_key=issued.key_pem if issued else None,
            certificate_chain=issued.cert_pem if issued else None)
        return grpc.secure_channel(self.agent_endpoint if agent else self.endpoint, credentials)

    def expired(self, identity: Identity) -> Issued:
        """identity's certificate from the fleet's own CA, expired nine days ago."""
        authority = CertificateAuthority.load(self.ca.root)
        return authority.issue(identity, days=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))

    # -- what they hold -----------------------------------------------------------------------

    def stored(self) -> dict[str, Any]:
        """Every record of the coordinator's store, key -> value."""
        async def everything() -> dict[str, Any]:
            return {r.key: r.value for r in await self.coordinator.store.list("")}
        return self.run(everything())

    def agent_files(self) -> set[str]:
        """Every path under the agent's state directory, relative to it."""
        root = self.agent_state.root
        return {str(p.relative_to(root)) for p in root.rglob("*")}
