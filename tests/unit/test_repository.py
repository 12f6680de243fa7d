"""The typed repository every record kind goes through: create once, change by compare-and-set."""
from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from coordinator.domain.errors import ApiError
from coordinator.state.repository import FETCH_ONE_BY_ONE, Repository
from coordinator.state.store import SqliteStore


@dataclass
class Item:
    name: str
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(**data)


def missing(name: str) -> ApiError:
    return ApiError("ItemNotFound", f"Item {name} not found.")


def repo_at(path) -> Repository[Item]:
    return Repository(SqliteStore(path), "items/", Item.from_dict, lambda i: i.name, missing, "Item")


def test_a_record_is_created_once_and_read_back_typed(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        assert await repo.insert(Item("a", ["x"]))
        assert not await repo.insert(Item("a", ["y"]))
        assert await repo.get("a") == Item("a", ["x"])
        assert await repo.get("b") is None
        assert await repo.all() == [Item("a", ["x"])]
        assert await repo.store.get("items/a") is not None
    asyncio.run(scenario())


class RacingStore(SqliteStore):
    """Another writer changes items/a once, between the repository's read and its write."""

    raced = False

    async def get(self, key):
        rec = await super().get(key)
        if not self.raced:
            self.raced = True
            await self.put("items/a", Item("a", ["theirs"]).to_dict())
        return rec


def test_a_change_that_loses_the_race_is_applied_again_to_the_winner(tmp_path):
    async def scenario():
        store = RacingStore(tmp_path / "s.db")
        repo = Repository(store, "items/", Item.from_dict, lambda i: i.name, missing, "Item")
        await repo.insert(Item("a"))
        seen = []

        def change(item: Item) -> None:
            seen.append(list(item.tags))
            item.tags.append("mine")
        assert (await repo.mutate("a", change)).tags == ["theirs", "mine"]
        assert seen == [[], ["theirs"]]
        assert (await repo.get("a")).tags == ["theirs", "mine"]
    asyncio.run(scenario())


def test_a_refused_or_empty_change_writes_nothing(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        await repo.insert(Item("a"))
        before = await repo.revision("a")

        def refuse(item: Item) -> None:
            item.tags.append("half-done")
            raise ApiError("InvalidState", "no")
        with pytest.raises(ApiError):
            await repo.mutate("a", refuse)
        assert await repo.mutate("a", lambda item: False) == Item("a")
        assert await repo.revision("a") == before
        assert await repo.get("a") == Item("a")
    asyncio.run(scenario())


def test_changing_or_reading_the_revision_of_a_missing_record_raises_its_not_found(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        with pytest.raises(ApiError, match="Item gone not found"):
            await repo.mutate("gone", lambda item: None)
        with pytest.raises(ApiError, match="ItemNotFound"):
            await repo.revision("gone")
        assert not await repo.delete("gone")
    asyncio.run(scenario())


def test_describe_pages_walk_every_record_once_in_id_order_reading_one_page_each(tmp_path):
    from coordinator.api.paging import page_by_id

    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        names = [f"c{i:03d}" for i in range(45)]
        for name in reversed(names):
            assert await repo.insert(Item(name))
        seen, marker, pages = [], "", 0
        while True:
            page, marker = await page_by_id(repo.page, lambda i: i.name, 20, marker)
            seen += [i.name for i in page]
            pages += 1
            assert len(page) <= 20
            if not marker:
                break
        assert (seen, pages) == (names, 3)
        for bad in ("C001", "c001\n", "../x", "-a"):
            with pytest.raises(ApiError, match="Invalid Marker"):
                await page_by_id(repo.page, lambda i: i.name, 20, bad)
        with pytest.raises(ApiError, match="MaxRecords"):
            await page_by_id(repo.page, lambda i: i.name, 101, "")
    asyncio.run(scenario())


def test_a_shared_read_decodes_only_what_was_written_since_and_drops_what_was_deleted(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        for name in ("a", "b", "c"):
            assert await repo.insert(Item(name))
        first = await repo.shared()
        assert first == [Item("a"), Item("b"), Item("c")]
        await repo.mutate("b", lambda item: item.tags.append("new"))
        await repo.delete("c")
        assert await repo.insert(Item("d"))
        second = await repo.shared()
        assert second == [Item("a"), Item("b", ["new"]), Item("d")]
        assert second[0] is first[0], "an unchanged record is not decoded again"
        assert second[1] is not first[1]
        assert await repo.shared() == await repo.all()
    asyncio.run(scenario())


def test_a_shared_read_after_many_writes_reads_everything_at_once_and_agrees_with_a_full_read(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        await repo.shared()
        for i in range(FETCH_ONE_BY_ONE + 5):
            assert await repo.insert(Item(f"i{i:03d}"))
        assert await repo.shared() == await repo.all()
    asyncio.run(scenario())


def test_concurrent_shared_reads_each_see_every_record_listed(tmp_path):
    async def scenario():
        repo = repo_at(tmp_path / "s.db")
        for name in ("a", "b"):
            assert await repo.insert(Item(name))
        await repo.shared()

        async def write_then_read(name: str) -> tuple[str, list[Item]]:
            assert await repo.insert(Item(name))
            return name, await repo.shared()
        reads = await asyncio.gather(*(write_then_read(f"n{i}") for i in range(10)))
        final = await repo.all()
        for name, read in reads:
            assert name in {item.name for item in read}, "a record written before the read is in it"
            assert [item.name for item in read] == sorted(item.name for item in read)
            assert {"a", "b"} <= {item.name for item in read}
        assert await repo.shared() == final
    asyncio.run(scenario())
