"""The coordinators' etcd store as the leader uses it: reads as they are, every write guarded
by the leadership its elector holds at that moment.

The repos hold this one object for the coordinator's whole life; leadership comes and goes
underneath. A write made while this coordinator does not lead, or that reaches etcd after
another took over, is refused with NotLeader and changes nothing.
"""
from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from coordinator.state.election import Elector
from coordinator.state.store.base import Record, Store, counted_write
from coordinator.state.store.etcd import EtcdStore


class LeaderStore(Store):
    def __init__(self, store: EtcdStore, elector: Elector) -> None:
        self.store = store
        self.elector = elector

    async def get(self, key: str) -> Record | None:
        return await self.store.get(key)

    async def list(self, prefix: str) -> list[Record]:
        return await self.store.list(prefix)

    async def list_range(self, start: str, end: str, limit: int = 0) -> builtins.list[Record]:
        return await self.store.list_range(start, end, limit)

    async def revisions(self, prefix: str) -> builtins.list[tuple[str, int]]:
        return await self.store.revisions(prefix)

    @counted_write
    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None = None) -> int | None:
        return await self.elector.store(self.store).put(key, value, expected_revision)

    @counted_write
    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        return await self.elector.store(self.store).delete(key, expected_revision)

    @counted_write
    async def transact(self, puts: Sequence[tuple[str, dict[str, Any], int | None]],
                       deletes: Sequence[tuple[str, int | None]] = ()) -> bool:
        return await self.elector.store(self.store).transact(puts, deletes)

    async def close(self) -> None:
        await self.store.close()
