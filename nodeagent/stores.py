"""The agent's own object stores: what snapshots are written to and restores read from.

They are configured on the agent (`--store NAME=URL`, see cachefleet.common.objectstore.named),
so a caller names a store and a key and can reach nothing else. Each store is checked at start
and again every CHECK_EVERY_S (every RECHECK_UNREACHABLE_S while one is unreachable); what the last check found goes to the coordinator in every
heartbeat (HostInfo.stores, shown by DescribeHosts) and to the log whenever it changes.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog
from cachefleet.v1 import cache_control_pb2, node_agent_pb2

from cachefleet.common.objectstore import ObjectStore, ObjectStoreError
from cachefleet.common.objectstore.base import check_key
from cachefleet.common.objectstore.named import StoreConfig, open_named, probe
from nodeagent.errors import InvalidArgument

log = structlog.get_logger("nodeagent.stores")

CHECK_EVERY_S = 60.0
RECHECK_UNREACHABLE_S = 5.0   # while a store is unreachable: one that is back says so within seconds
AVAILABLE, UNREACHABLE, CHECKING = "available", "unreachable", "checking"
# S3 uploads: parts in flight and their size (78 GiB objects at most: 10,000 parts). A snapshot
# sends each part from the RDB file itself (put_file), so parts in flight cost no buffers.
UPLOAD_CONCURRENCY = 4
UPLOAD_PART_SIZE = 8 << 20


class AgentStores:
    """The configured stores by name, opened on first use, and their last check."""

    def __init__(self, configs: Mapping[str, StoreConfig], host_id: str) -> None:
        self._configs = dict(configs)
        self._host_id = host_id
        self._opened: dict[str, ObjectStore] = {}
        self._found: dict[str, tuple[str, str]] = {name: (CHECKING, "") for name in self._configs}
        self._host: node_agent_pb2.HostInfo | None = None
        self._on_change: Callable[[], None] = lambda: None

    def report_to(self, host: node_agent_pb2.HostInfo, on_change: Callable[[], None]) -> None:
        """Keep host.stores (what heartbeats carry) up to date, calling on_change at each change."""
        self._host, self._on_change = host, on_change
        self._fill()

    def statuses(self) -> list[cache_control_pb2.StoreStatus]:
        return [cache_control_pb2.StoreStatus(store_name=name, location=self._configs[name].location(),
                                              status=status, message=message[:500])
                for name, (status, message) in sorted(self._found.items())]

    def open(self, name: str, key: str) -> ObjectStore:
        """The store `name` for key: an unknown name or a key that is not one is refused
        before anything is opened or written."""
        config = self._configs.get(name)
        if config is None:
            known = ", ".join(sorted(self._configs)) or "none"
            raise InvalidArgument(f"host {self._host_id} has no object store named {name!r} "
                                  f"(its stores: {known})")
        try:
            check_key(key)
            if name not in self._opened:
                options = {"upload_concurrency": UPLOAD_CONCURRENCY, "part_size": UPLOAD_PART_SIZE}
                self._opened[name] = open_named(config, **(options if config.is_s3 else {}))
            store = self._opened[name]
            store.check_location(key)
        except ObjectStoreError as error:
            raise InvalidArgument(f"object store {name}: {error}") from error
        return store

    async def check(self) -> None:
        """Check every store once (in threads: a slow endpoint holds up nothing else)."""
        names = list(self._configs)
        errors = await asyncio.gather(*(asyncio.to_thread(probe, self._configs[n]) for n in names))
        self._publish({name: (UNREACHABLE if error else AVAILABLE, error) for name, error in zip(names, errors)})

    async def run(self, every: float = CHECK_EVERY_S, unreachable_every: float = RECHECK_UNREACHABLE_S) -> None:
        while True:
            await self.check()
            down = any(status == UNREACHABLE for status, _ in self._found.values())
            await asyncio.sleep(min(every, unreachable_every) if down else every)

    def _publish(self, found: dict[str, tuple[str, str]]) -> None:
        if found == self._found:
            return
        for name, (status, message) in found.items():
            if self._found.get(name) == (status, message):
                continue
            where = self._configs[name].location()
            if status == AVAILABLE:
                log.info("object store available", store=name, location=where)
            else:
                log.error("object store unreachable", store=name, location=where, error=message)
        self._found = found
        self._fill()
        self._on_change()

    def _fill(self) -> None:
        if self._host is not None:
            del self._host.stores[:]
            self._host.stores.extend(self.statuses())
