"""Cluster records in the store: read them all, create one, change one by compare-and-set."""
from __future__ import annotations

import asyncio
from typing import Callable

from .errors import ApiError, cluster_not_found
from .model import Cluster, cluster_key
from .store import Store
from .store.base import ABSENT

MAX_CAS_ATTEMPTS = 50


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

    async def create(self, cluster: Cluster) -> None:
        if await self._store.put(cluster_key(cluster.cluster_id), cluster.to_dict(), ABSENT) is None:
            raise ApiError("CacheClusterAlreadyExists", f"Cache cluster {cluster.cluster_id} already exists.")

    async def mutate(self, cluster_id: str, change: Callable[[Cluster], bool | None]) -> Cluster:
        """Apply change() to the freshest copy and write it back; retry if someone wrote first.

        change() may raise ApiError to refuse (nothing is written) or return False
        to say there is nothing to write.
        """
        for _ in range(MAX_CAS_ATTEMPTS):
            rec = await self._store.get(cluster_key(cluster_id))
            if rec is None:
                raise cluster_not_found(cluster_id)
            cluster = Cluster.from_dict(rec.value)
            if change(cluster) is False:
                return cluster
            if await self._store.put(rec.key, cluster.to_dict(), rec.revision) is not None:
                return cluster
        raise ApiError("ServiceUnavailable", f"Cache cluster {cluster_id} is changing too fast; try again.")

    async def delete(self, cluster_id: str) -> None:
        await self._store.delete(cluster_key(cluster_id))
