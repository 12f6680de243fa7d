"""Cluster records in the store: read them all, create one, change one by compare-and-set."""
from __future__ import annotations

import asyncio
from typing import Any, Protocol, TypeVar
from collections.abc import Callable

from coordinator.domain.errors import ApiError, cluster_not_found
from coordinator.domain.model import Cluster, ReplicationGroup, cluster_key, group_key
from coordinator.state.store import Store
from coordinator.state.store.base import ABSENT

MAX_CAS_ATTEMPTS = 50


class Record(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Record)


async def update_record(store: Store, key: str, decode: Callable[[dict[str, Any]], T],
                        change: Callable[[T], bool | None], missing: Callable[[], ApiError], busy: str) -> T:
    """Apply change() to the freshest copy of one record and write it back by compare-and-set,
    retrying when someone wrote first. change() may raise ApiError to refuse (nothing is
    written) or return False to say there is nothing to write. The decoded value must have
    to_dict(). Every repository's mutate() is this loop."""
    for _ in range(MAX_CAS_ATTEMPTS):
        rec = await store.get(key)
        if rec is None:
            raise missing()
        value = decode(rec.value)
        if change(value) is False:
            return value
        if await store.put(rec.key, value.to_dict(), rec.revision) is not None:
            return value
    raise ApiError("ServiceUnavailable", busy)


class ClusterRepo:
    def __init__(self, store: Store):
        self._store = store
        # Held while a placement is computed and written, so two placements never
        # count the same free memory or port twice.
        self.placement_lock = asyncio.Lock()

    async def all(self) -> list[Cluster]:
        return [Cluster.from_dict(r.value) for r in await self._store.list("clusters/")]

    async def get(self, cluster_id: str) -> Cluster | None:
        rec = await self._store.get(cluster_key(cluster_id))
        return Cluster.from_dict(rec.value) if rec else None

    async def record_revision(self, cluster_id: str) -> int:
        rec = await self._store.get(cluster_key(cluster_id))
        if rec is None:
            raise cluster_not_found(cluster_id)
        return rec.revision

    async def create(self, cluster: Cluster) -> None:
        if await self._store.put(cluster_key(cluster.cluster_id), cluster.to_dict(), ABSENT) is None:
            raise ApiError("CacheClusterAlreadyExists", f"Cache cluster {cluster.cluster_id} already exists.")

    async def mutate(self, cluster_id: str, change: Callable[[Cluster], bool | None]) -> Cluster:
        """Apply change() to the freshest copy and write it back; retry if someone wrote first.

        change() may raise ApiError to refuse (nothing is written) or return False
        to say there is nothing to write.
        """
        return await update_record(self._store, cluster_key(cluster_id), Cluster.from_dict, change,
                                   lambda: cluster_not_found(cluster_id),
                                   f"Cache cluster {cluster_id} is changing too fast; try again.")

    async def delete(self, cluster_id: str) -> None:
        await self._store.delete(cluster_key(cluster_id))


class GroupRepo:
    """Replication group records; changes that touch members go in one transaction."""

    def __init__(self, store: Store):
        self._store = store

    async def all(self) -> list[ReplicationGroup]:
        return [ReplicationGroup.from_dict(r.value) for r in await self._store.list("groups/")]

    async def get(self, group_id: str) -> ReplicationGroup | None:
        rec = await self._store.get(group_key(group_id))
        return ReplicationGroup.from_dict(rec.value) if rec else None

    async def change(self, group_id: str, change: Callable[[ReplicationGroup, dict[str, Cluster]], bool | None],
                     not_found: Callable[[str], ApiError]) -> tuple[ReplicationGroup, dict[str, Cluster]]:
        """Apply change(group, members) to fresh copies and write the group and every member
        (members added to the dict are created, members whose cluster is set to None are
        deleted) in one transaction; retry when someone wrote first."""
        for _ in range(MAX_CAS_ATTEMPTS):
            rec = await self._store.get(group_key(group_id))
            if rec is None:
                raise not_found(group_id)
            group = ReplicationGroup.from_dict(rec.value)
            records = {}
            for member in group.members:
                member_rec = await self._store.get(cluster_key(member))
                if member_rec is not None:
                    records[member] = member_rec
            members = {m: Cluster.from_dict(r.value) for m, r in records.items()}
            if change(group, members) is False:
                return group, members
            puts = [(rec.key, group.to_dict(), rec.revision)]
            deletes: list[tuple[str, int | None]] = []
            for member, cluster in members.items():
                revision = records[member].revision if member in records else ABSENT
                if cluster is None:
                    if member in records:
                        deletes.append((cluster_key(member), revision))
                else:
                    puts.append((cluster_key(member), cluster.to_dict(), revision))
            if await self._store.transact(puts, deletes):
                return group, {m: c for m, c in members.items() if c is not None}
        raise ApiError("ServiceUnavailable", f"Replication group {group_id} is changing too fast; try again.")

    async def create(self, group: ReplicationGroup, members: list[Cluster],
                     existing: dict[str, int] | None = None) -> bool:
        """Write a new group and its members at once; `existing` maps member ids that already
        exist (an adopted primary) to the revision they were read at."""
        existing = existing or {}
        puts = [(group_key(group.group_id), group.to_dict(), ABSENT)]
        puts += [(cluster_key(c.cluster_id), c.to_dict(), existing.get(c.cluster_id, ABSENT)) for c in members]
        return await self._store.transact(puts)

    async def delete(self, group_id: str) -> None:
        await self._store.delete(group_key(group_id))
