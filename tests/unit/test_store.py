"""The SQLite store keeps the compare-and-set promises the reconciler relies on."""
import asyncio
import sqlite3
import time

from coordinator.state.store import SqliteStore
from coordinator.state.store.base import ABSENT


def run(coro):
    return asyncio.run(coro)


def test_put_if_absent_refuses_an_existing_key(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        assert await store.put("clusters/a", {"v": 1}, ABSENT) is not None
        assert await store.put("clusters/a", {"v": 2}, ABSENT) is None
        assert (await store.get("clusters/a")).value == {"v": 1}
    run(scenario())


def test_a_stale_revision_loses_and_changes_nothing(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        first = await store.put("k", {"v": 1})
        second = await store.put("k", {"v": 2}, first)
        assert second is not None and second != first
        assert await store.put("k", {"v": 3}, first) is None
        assert await store.delete("k", first) is False
        assert (await store.get("k")).value == {"v": 2}
        assert await store.delete("k", second) is True
        assert await store.get("k") is None
    run(scenario())


def test_list_by_prefix_is_ordered_and_exact(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        for key in ("clusters/b", "clusters/a", "clustersx", "hosts/h1"):
            await store.put(key, {"k": key})
        assert [r.key for r in await store.list("clusters/")] == ["clusters/a", "clusters/b"]
    run(scenario())


def test_acknowledged_writes_survive_reopening(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        rev = await store.put("k", {"v": 1})
        # no close(): as if the process died right after the acknowledgement
        again = SqliteStore(tmp_path / "s.db")
        rec = await again.get("k")
        assert rec.value == {"v": 1} and rec.revision == rev
    run(scenario())


def test_a_transaction_lands_whole_or_not_at_all(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        rev = await store.put("groups/g", {"v": 1})
        assert await store.transact([("groups/g", {"v": 2}, rev), ("clusters/a", {"a": 1}, ABSENT)])
        # one stale compare: nothing of the transaction is applied
        assert not await store.transact([("clusters/b", {"b": 1}, ABSENT), ("groups/g", {"v": 3}, rev)])
        assert await store.get("clusters/b") is None
        assert (await store.get("groups/g")).value == {"v": 2}
        current = (await store.get("clusters/a")).revision
        assert await store.transact([], [("clusters/a", current)])
        assert await store.get("clusters/a") is None
    run(scenario())


def test_list_range_is_ordered_and_half_open(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "s.db")
        for key in ("a/1", "a/2", "a/3", "b/1"):
            await store.put(key, {"k": key})
        assert [r.key for r in await store.list_range("a/2", "b/1")] == ["a/2", "a/3"]
        assert [r.key for r in await store.list_range("a/", "a/~")] == ["a/1", "a/2", "a/3"]
        assert await store.list_range("b/2", "a/1") == []
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
