"""One typed repository: the records of one kind under a key prefix, changed by compare-and-set.

Cluster, replication group, parameter group and snapshot records are all stored the same
way (a JSON dict per record, decoded into a dataclass with to_dict/from_dict); what differs
is the prefix, the decoder and the error a missing record raises. The compare-and-set loop
that every change goes through lives here once.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from coordinator.domain.errors import ApiError
from coordinator.state.store import Store
from coordinator.state.store.base import ABSENT

MAX_CAS_ATTEMPTS = 50
# More records changed than this since the last shared read: one read of them all is cheaper
# than a read of each.
FETCH_ONE_BY_ONE = 32


class Encodable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Encodable)


class Repository(Generic[T]):
    """Records `<prefix><id>` decoded by `decode`; `noun` names one in refusals ("Snapshot")."""

    def __init__(self, store: Store, prefix: str, decode: Callable[[dict[str, Any]], T],
                 ident: Callable[[T], str], not_found: Callable[[str], ApiError], noun: str) -> None:
        self.store = store
        self.prefix = prefix
        self._decode = decode
        self._ident = ident
        self._not_found = not_found
        self._noun = noun
        self._shared: dict[str, tuple[int, T]] = {}   # key -> (revision, the record decoded at it)
        self._sharing = asyncio.Lock()

    def key(self, record_id: str) -> str:
        return f"{self.prefix}{record_id}"

    async def all(self) -> list[T]:
        return [self._decode(r.value) for r in await self.store.list(self.prefix)]

    async def shared(self) -> list[T]:
        """Every record, in id order, decoded once per revision and SHARED between callers: for
        readers that change nothing (a reconcile cycle's listing, placement's count of what each
        host runs). Over a large fleet a full read decodes thousands of records; this one reads
        the keys' revisions and decodes only the records written since. Change a record through
        mutate(), never the object this returns."""
        async with self._sharing:   # one reader refreshes the cache at a time
            listing = await self.store.revisions(self.prefix)
            stale = [key for key, revision in listing if self._shared.get(key, (None,))[0] != revision]
            if len(stale) > FETCH_ONE_BY_ONE:
                records = await self.store.list(self.prefix)
                self._shared = {r.key: (r.revision, self._decode(r.value)) for r in records}
                return [decoded for _, decoded in self._shared.values()]
            for key in stale:   # each as it is now: written again since the listing, its newer self
                rec = await self.store.get(key)
                if rec is None:
                    self._shared.pop(key, None)
                else:
                    self._shared[rec.key] = (rec.revision, self._decode(rec.value))
            listed = {key for key, _ in listing}
            for gone in [key for key in self._shared if key not in listed]:
                del self._shared[gone]
            return [self._shared[key][1] for key, _ in listing if key in self._shared]

    async def page(self, after: str, size: int) -> tuple[list[T], bool]:
        """Up to size records in id order, those after the id `after` ("": from the first), and
        whether more follow: a read and a decode of that page only, however many there are."""
        start = self.key(after) + "\0" if after else self.prefix
        records = await self.store.list_range(start, self.prefix + "\U0010ffff", limit=size + 1)
        return [self._decode(r.value) for r in records[:size]], len(records) > size

    async def get(self, record_id: str) -> T | None:
        rec = await self.store.get(self.key(record_id))
        return self._decode(rec.value) if rec else None

    async def revision(self, record_id: str) -> int:
        """The record's current revision; its not-found error when it is gone."""
        rec = await self.store.get(self.key(record_id))
        if rec is None:
            raise self._not_found(record_id)
        return rec.revision

    async def insert(self, value: T) -> bool:
        """Write a new record; False when one with its id exists already."""
        return await self.store.put(self.key(self._ident(value)), value.to_dict(), ABSENT) is not None

    async def mutate(self, record_id: str, change: Callable[[T], bool | None]) -> T:
        """Apply change() to the freshest copy and write it back; retry when someone wrote first.

        change() may raise ApiError to refuse (nothing is written) or return False to say
        there is nothing to write.
        """
        key = self.key(record_id)
        for _ in range(MAX_CAS_ATTEMPTS):
            rec = await self.store.get(key)
            if rec is None:
                raise self._not_found(record_id)
            value = self._decode(rec.value)
            if change(value) is False:
                return value
            if await self.store.put(rec.key, value.to_dict(), rec.revision) is not None:
                return value
        raise ApiError("ServiceUnavailable", f"{self._noun} {record_id} is changing too fast; try again.")

    async def delete(self, record_id: str) -> bool:
        return await self.store.delete(self.key(record_id))
