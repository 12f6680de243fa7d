"""SQLite (WAL) backend of the store: the embedded default for one coordinator.

synchronous=FULL so that what the API acknowledged survives a crash of the process or the
host; so a commit waits for an fsync, which a busy or failing disk can stretch to seconds.
Every call therefore runs on one worker thread of the store's own, never on the event loop:
heartbeat answers (they carry the primaries' write leases) go on while a commit waits. One
thread, so calls run one at a time in the order they were made, as they did on the loop.
"""
from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import functools
import json
import pathlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from coordinator.state.store.base import ABSENT, Record, Store, StoreError, counted_write

T = TypeVar("T")


class SqliteStore(Store):
    def __init__(self, path: str | pathlib.Path):
        self.path = str(path)
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, revision INTEGER NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('revision', 0)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        """call(*args) on the store's thread; its sqlite3 errors as StoreError."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(call, *args))

    def _next_revision(self) -> int:
        self._db.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
        return self._db.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0]

    async def get(self, key: str) -> Record | None:
        return await self._run(self._get, key)

    def _get(self, key: str) -> Record | None:
        try:
            row = self._db.execute("SELECT key, value, revision FROM kv WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
        return Record(row[0], json.loads(row[1]), row[2]) if row else None

    async def list(self, prefix: str) -> list[Record]:
        return await self.list_range(prefix, prefix + "\U0010ffff")

    async def list_range(self, start: str, end: str, limit: int = 0) -> builtins.list[Record]:
        return await self._run(self._list_range, start, end, limit)

    def _list_range(self, start: str, end: str, limit: int = 0) -> builtins.list[Record]:
        try:   # the key is the primary key: a search of its index, rows of the range only
            rows = self._db.execute(
                "SELECT key, value, revision FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
                (start, end, limit or -1)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
        return [Record(k, json.loads(v), r) for k, v, r in rows]

    async def revisions(self, prefix: str) -> builtins.list[tuple[str, int]]:
        return await self._run(self._revisions, prefix)

    def _revisions(self, prefix: str) -> builtins.list[tuple[str, int]]:
        try:
            return [(k, r) for k, r in self._db.execute(
                "SELECT key, revision FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                (prefix, prefix + "\U0010ffff")).fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def _matches(self, key: str, expected_revision: int | None) -> bool:
        if expected_revision is None:
            return True
        row = self._db.execute("SELECT revision FROM kv WHERE key = ?", (key,)).fetchone()
        return (row[0] if row else ABSENT) == expected_revision

    def _write(self, key: str, text: str, revision: int) -> None:
        self._db.execute("INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = excluded.value, revision = excluded.revision", (key, text, revision))

    @counted_write
    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None = None) -> int | None:
        # encoded here, as the call is made: a caller's dict may change while the thread works
        return await self._run(self._put, key, _encode(value), expected_revision)

    def _put(self, key: str, value: str, expected_revision: int | None) -> int | None:
        revision: list[int] = []

        def apply() -> None:
            revision.append(self._next_revision())
            self._write(key, value, revision[0])
        return revision[0] if self._atomically([(key, expected_revision)], apply) else None

    @counted_write
    async def transact(self, puts: Sequence[tuple[str, dict[str, Any], int | None]],
                       deletes: Sequence[tuple[str, int | None]] = ()) -> bool:
        encoded = [(key, _encode(value), revision) for key, value, revision in puts]
        return await self._run(self._transact, encoded, list(deletes))

    def _transact(self, puts: Sequence[tuple[str, str, int | None]],
                  deletes: Sequence[tuple[str, int | None]]) -> bool:
        def apply() -> None:
            revision = self._next_revision()
            for key, value, _ in puts:
                self._write(key, value, revision)
            for key, _ in deletes:
                self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
        checks = [(k, r) for k, _, r in puts] + list(deletes)
        return self._atomically(checks, apply)

    def _atomically(self, checks: builtins.list[tuple[str, int | None]], apply: Callable[[], None]) -> bool:
        """One IMMEDIATE transaction: every compare holds, then apply(); else nothing."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not all(self._matches(k, r) for k, r in checks):
                    self._db.execute("ROLLBACK")
                    return False
                apply()
                self._db.execute("COMMIT")
                return True
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    @counted_write
    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        return await self._run(self._delete, key, expected_revision)

    def _delete(self, key: str, expected_revision: int | None) -> bool:
        try:
            if expected_revision is None:
                cur = self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                cur = self._db.execute("DELETE FROM kv WHERE key = ? AND revision = ?", (key, expected_revision))
            return cur.rowcount == 1
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def close(self) -> None:
        await self._run(self._db.close)
        self._worker.shutdown(wait=False)


def _encode(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)
