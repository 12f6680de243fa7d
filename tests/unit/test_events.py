"""Events are kept 14 days, listed in time order, filtered by source."""
import asyncio

from coordinator.state.events import RETENTION_SECONDS, EventLog
from coordinator.state.store import SqliteStore


def test_events_older_than_14_days_are_pruned_and_the_rest_filtered_in_order(tmp_path):
    now = [1_000_000_000.0]
    log = EventLog(SqliteStore(tmp_path / "s.db"), clock=lambda: now[0])

    async def scenario():
        await log.record("cache-cluster", "c1", "old")
        now[0] += RETENTION_SECONDS + 1
        await log.record("cache-cluster", "c1", "created")
        await log.record("host", "h1", "lost")
        await log.record("cache-cluster", "c2", "created")
        assert await log.prune() == 1
        assert [e.message for e in await log.query()] == ["created", "lost", "created"]
        assert [e.source_identifier for e in await log.query(source_type="cache-cluster")] == ["c1", "c2"]
        assert [e.message for e in await log.query(source_identifier="h1")] == ["lost"]
        assert await log.query(start=now[0] + 1) == []
    asyncio.run(scenario())
