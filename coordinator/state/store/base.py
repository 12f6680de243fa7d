"""The state store interface: get, list by prefix or key range, compare-and-set put and delete by revision.

Keys are '/'-separated strings, values JSON-able dicts. Every record carries a
revision that changes on every write; writers pass the revision they read and
lose (get None/False back) if someone wrote in between, like etcd's
compare-and-set. Every backend error becomes StoreError.
"""
from __future__ import annotations

import abc
import builtins
import functools
from dataclasses import dataclass
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class StoreError(Exception):
    """The store could not be read or written."""


@dataclass(frozen=True)
class Record:
    key: str
    value: dict[str, Any]
    revision: int


# expected_revision for put(): the key must not exist yet.
ABSENT = 0


def counted_write(write: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Count a write in its store's `writes` once it ended, whatever its outcome."""
    @functools.wraps(write)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await write(*args, **kwargs)
        finally:
            store = args[0]
            assert isinstance(store, Store)
            store.writes += 1
    return counted


class Store(abc.ABC):
    # Writes through this object that have ended. Only the leader writes, through one object:
    # a reader that sees the same count before a listing and after knows the listing is still
    # what the store holds (a reconcile cycle then does not read the fleet again).
    writes: int = 0

    @abc.abstractmethod
    async def get(self, key: str) -> Record | None:
        """The record at key, or None."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[Record]:
        """Every record whose key starts with prefix, in key order."""

    @abc.abstractmethod
    async def list_range(self, start: str, end: str, limit: int = 0) -> builtins.list[Record]:
        """Every record with start <= key < end, in key order (etcd's range): a read of that range
        alone, however many keys lie outside it (events by time: their keys sort by date). With
        limit, the first `limit` of them only (a page)."""

    async def revisions(self, prefix: str) -> builtins.list[tuple[str, int]]:
        """(key, revision) of every record whose key starts with prefix, in key order, without their
        values: what changed since a reader decoded them. Backends answer it from keys alone."""
        return [(r.key, r.revision) for r in await self.list(prefix)]

    @abc.abstractmethod
    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None = None) -> int | None:
        """Write value; with expected_revision (ABSENT = must not exist) only if it still matches.

        Returns the new revision, or None when the compare failed.
        """

    @abc.abstractmethod
    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        """Delete key (only at expected_revision when given); False if the compare failed or it was absent."""

    @abc.abstractmethod
    async def transact(self, puts: Sequence[tuple[str, dict[str, Any], int | None]],
                       deletes: Sequence[tuple[str, int | None]] = ()) -> bool:
        """Apply several puts (key, value, expected_revision) and deletes (key, expected_revision)
        at once, or none of them if any compare fails (etcd's Txn). True when applied."""

    async def close(self) -> None:  # noqa: B027 - optional: most stores hold nothing
        """Release connections."""
