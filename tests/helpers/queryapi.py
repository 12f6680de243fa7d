"""A real coordinator's CacheControl servicers behind its real Query API server, in this process,
with three registered hosts and no agents (nothing is placed: clusters stay `creating` until a
test says otherwise), for boto3 to call.

The coordinator's loops (reconciler, snapshots) are not started: what is under test is the
protocol between boto3 and the servicers. `QueryFleet.run` runs a coroutine on the servers' loop,
which has a thread of its own so that blocking boto3 calls can be made from the test.
"""
from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.transport import Transport
from cachefleet.v1 import cache_control_pb2, node_agent_pb2
from coordinator.server import Coordinator, CoordinatorConfig

T = TypeVar("T")

ENGINES = [cache_control_pb2.EngineInstall(engine="memcached", version="1.6.18", path="/usr/bin/memcached"),
           cache_control_pb2.EngineInstall(engine="redis", version="7.0.15", path="/usr/bin/redis-server")]
REGION = "local"   # any region: the credential scope names it


class QueryFleet:
    def __init__(self, root: pathlib.Path, tls: CredentialFiles | None = None) -> None:
        self.coordinator = Coordinator(CoordinatorConfig(
            listen="127.0.0.1:0", state_dir=str(root / "coordinator"), dns_backend="none", host_timeout=3600.0,
            query_api_listen="127.0.0.1:0", transport=Transport(tls)))
        self.tls = tls
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="query api", daemon=True)
        self.port = 0

    def start(self) -> QueryFleet:
        self._thread.start()
        self.port = self.run(self._start())
        return self

    async def _start(self) -> int:
        c = self.coordinator
        await c.registry.load()
        await c.security_groups.ensure_default(c.clock(), ())
        for i, zone in enumerate("abc", 1):
            await c.registry.heartbeat(node_agent_pb2.HostInfo(
                host_id=f"host{i}", address=f"127.0.1.{i}", agent_endpoint=f"127.0.1.{i}:1",
                availability_zone=f"local-{zone}", memory_mb=8192, engines=ENGINES), [])
        assert c.query_api is not None
        return await c.query_api.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        async def stop() -> None:
            assert self.coordinator.query_api is not None
            await self.coordinator.query_api.stop()
            await self.coordinator.store.close()
        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def access_key(self, role: str = "admin", user: str = "") -> tuple[str, str]:
        """(id, secret) of a new key with role."""
        record, secret = self.run(self.coordinator.access_keys.create(role, user, time.time()))
        return record.access_key_id, secret

    def client(self, role: str = "admin", key: tuple[str, str] | None = None, **options: Any) -> Any:
        """A boto3 ElastiCache client, unmodified but for the endpoint, signing with a new key of role."""
        key_id, secret = key or self.access_key(role)
        return boto3.client("elasticache", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1}), **options)

    @staticmethod
    def status_change(status: str) -> Callable[[Any], None]:
        def change(record: Any) -> None:
            record.status = type(record.status)(status)
        return change

    def set_status(self, cluster_id: str, status: str) -> None:
        """What the reconciler would do once the nodes run."""
        self.run(self.coordinator.repo.mutate(cluster_id, self.status_change(status)))

    def set_group_status(self, group_id: str, status: str) -> None:
        self.run(self.coordinator.group_repo.mutate(group_id, self.status_change(status)))

    def later(self, delay: float, action: Callable[[], Awaitable[Any]]) -> None:
        """Run action on the servers' loop after delay seconds (while a test's boto3 call waits)."""
        async def run() -> None:
            await asyncio.sleep(delay)
            await action()
        asyncio.run_coroutine_threadsafe(run(), self.loop)
