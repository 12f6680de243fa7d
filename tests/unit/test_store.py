"""The SQLite store keeps the compare-and-set promises the reconciler relies on (the contract every
backend keeps, tests/helpers/store_contract.py), durably, without holding up the event loop."""
import asyncio
import sqlite3
import time

import pytest

from coordinator.state.store import SqliteStore
from tests.helpers.store_contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path):
        return lambda: SqliteStore(tmp_path / "s.db")


def test_acknowledged_writes_survive_reopening(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        rev = await store.put("k", {"v": 1})
        # no close(): as if the process died right after the acknowledgement
        again = SqliteStore(tmp_path / "s.db")
        rec = await again.get("k")
        assert rec.value == {"v": 1} and rec.revision == rev
    asyncio.run(scenario())


def test_a_write_waiting_on_the_database_does_not_stop_the_event_loop(tmp_path):
    """A commit held up (here by another connection's lock, as a slow fsync would) waits on the
    store's own thread: the loop, which answers heartbeats, keeps running meanwhile."""
    store = SqliteStore(tmp_path / "s.db")
    blocker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")

    async def scenario():
        put = asyncio.create_task(store.put("k", {"v": 1}))
        ticks, started = 0, time.monotonic()
        while time.monotonic() - started < 0.5:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not put.done(), "the write should still wait for the lock"
        assert ticks >= 20, f"the loop ran only {ticks} times in 0.5 s"
        blocker.execute("ROLLBACK")
        assert await asyncio.wait_for(put, 5) is not None
        assert (await store.get("k")).value == {"v": 1}
        await store.close()
    asyncio.run(scenario())
