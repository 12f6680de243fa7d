"""The promises every store backend keeps (compare-and-set, transactions, ordered listings), as
one set of tests each backend's test class inherits: SQLite's in tests/unit, etcd's in tests/e2e.

A subclass provides the fixture `make_store`: a callable giving a new, empty store, called inside
the test's event loop (an etcd client's channels belong to the loop that made them)."""
from __future__ import annotations

import asyncio

from coordinator.state.store.base import ABSENT


class StoreContract:
    def test_put_if_absent_refuses_an_existing_key(self, make_store):
        async def scenario():
            store = make_store()
            assert await store.put("clusters/a", {"v": 1}, ABSENT) is not None
            assert await store.put("clusters/a", {"v": 2}, ABSENT) is None
            assert (await store.get("clusters/a")).value == {"v": 1}
            await store.close()
        asyncio.run(scenario())

    def test_a_stale_revision_loses_and_changes_nothing(self, make_store):
        async def scenario():
            store = make_store()
            first = await store.put("k", {"v": 1})
            second = await store.put("k", {"v": 2}, first)
            assert second is not None and second != first
            assert (await store.get("k")).revision == second
            assert await store.put("k", {"v": 3}, first) is None
            assert await store.delete("k", first) is False
            assert (await store.get("k")).value == {"v": 2}
            assert await store.delete("k", second) is True
            assert await store.get("k") is None
            assert await store.delete("k") is False, "deleting an absent key deletes nothing"
            await store.close()
        asyncio.run(scenario())

    def test_an_unconditional_write_lands_whatever_was_there(self, make_store):
        async def scenario():
            store = make_store()
            first = await store.put("k", {"v": 1})
            assert await store.put("k", {"v": 2}) > first
            assert await store.delete("k") is True
            assert await store.put("k", {"v": 3}, ABSENT) is not None, "a deleted key is absent again"
            await store.close()
        asyncio.run(scenario())

    def test_list_by_prefix_is_ordered_and_exact(self, make_store):
        async def scenario():
            store = make_store()
            for key in ("clusters/b", "clusters/a", "clustersx", "hosts/h1"):
                await store.put(key, {"k": key})
            assert [r.key for r in await store.list("clusters/")] == ["clusters/a", "clusters/b"]
            assert [r.value for r in await store.list("hosts/")] == [{"k": "hosts/h1"}]
            assert await store.list("nothing/") == []
            await store.close()
        asyncio.run(scenario())

    def test_a_transaction_lands_whole_or_not_at_all(self, make_store):
        async def scenario():
            store = make_store()
            rev = await store.put("groups/g", {"v": 1})
            assert await store.transact([("groups/g", {"v": 2}, rev), ("clusters/a", {"a": 1}, ABSENT)])
            # its writes share one revision
            assert (await store.get("groups/g")).revision == (await store.get("clusters/a")).revision
            # one stale compare: nothing of the transaction is applied
            assert not await store.transact([("clusters/b", {"b": 1}, ABSENT), ("groups/g", {"v": 3}, rev)])
            assert await store.get("clusters/b") is None
            assert (await store.get("groups/g")).value == {"v": 2}
            current = (await store.get("clusters/a")).revision
            assert await store.transact([], [("clusters/a", current)])
            assert await store.get("clusters/a") is None
            # a stale delete compare keeps the puts out too
            assert not await store.transact([("clusters/c", {"c": 1}, None)], [("groups/g", rev)])
            assert await store.get("clusters/c") is None
            await store.close()
        asyncio.run(scenario())

    def test_a_transaction_writing_a_key_twice_keeps_the_last_write(self, make_store):
        async def scenario():
            store = make_store()
            assert await store.transact([("k", {"v": 1}, ABSENT), ("k", {"v": 2}, None), ("gone", {"v": 1}, None)],
                                        [("gone", None)])
            assert (await store.get("k")).value == {"v": 2}
            assert await store.get("gone") is None
            await store.close()
        asyncio.run(scenario())

    def test_list_range_is_ordered_and_half_open(self, make_store):
        async def scenario():
            store = make_store()
            for key in ("a/1", "a/2", "a/3", "b/1"):
                await store.put(key, {"k": key})
            assert [r.key for r in await store.list_range("a/2", "b/1")] == ["a/2", "a/3"]
            assert [r.key for r in await store.list_range("a/", "a/~")] == ["a/1", "a/2", "a/3"]
            assert await store.list_range("b/2", "a/1") == []
            assert [r.key for r in await store.list_range("a/", "b/~", limit=2)] == ["a/1", "a/2"]
            assert [r.key for r in await store.list_range("a/2", "b/~", limit=9)] == ["a/2", "a/3", "b/1"]
            await store.close()
        asyncio.run(scenario())

    def test_every_write_that_ended_is_counted_and_reads_are_not(self, make_store):
        async def scenario():
            store = make_store()
            assert store.writes == 0
            revision = await store.put("k", {"v": 1})
            await store.put("k", {"v": 2}, revision)          # a lost compare is counted too
            await store.get("k")
            await store.list("")
            assert store.writes == 2
            await store.transact([("t", {"v": 1}, None)])
            await store.delete("t")
            assert store.writes == 4
            await store.close()
        asyncio.run(scenario())

    def test_revisions_list_keys_and_revisions_in_order_without_values(self, make_store):
        async def scenario():
            store = make_store()
            second = await store.put("clusters/b", {"v": 1})
            first = await store.put("clusters/a", {"v": 1})
            await store.put("clustersx", {"v": 1})
            second = await store.put("clusters/b", {"v": 2}, second)
            assert await store.revisions("clusters/") == [("clusters/a", first), ("clusters/b", second)]
            assert await store.revisions("nothing/") == []
            assert [(r.key, r.revision) for r in await store.list("clusters/")] == await store.revisions("clusters/")
            await store.close()
        asyncio.run(scenario())
