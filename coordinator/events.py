"""The event log: one record per state change, kept 14 days, queried by DescribeEvents."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable

import structlog

from .store import Store

log = structlog.get_logger("events")

RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class Event:
    source_identifier: str
    source_type: str        # cache-cluster | host
    message: str
    date: float


class EventLog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock
        self._seq = itertools.count()

    async def record(self, source_type: str, source_identifier: str, message: str) -> Event:
        """Append an event; keys sort by time so listing is chronological."""
        event = Event(source_identifier, source_type, message, self._clock())
        key = f"events/{int(event.date * 1000):015d}-{next(self._seq) % 1_000_000:06d}"
        await self._store.put(key, {"source_identifier": source_identifier, "source_type": source_type,
                                    "message": message, "date": event.date})
        log.info("event", source_type=source_type, source_id=source_identifier, message=message)
        return event

    async def query(self, source_identifier: str = "", source_type: str = "",
                    start: float | None = None, end: float | None = None) -> list[Event]:
        events = []
        for rec in await self._store.list("events/"):
            v = rec.value
            if source_identifier and v["source_identifier"] != source_identifier:
                continue
            if source_type and v["source_type"] != source_type:
                continue
            if start is not None and v["date"] < start:
                continue
            if end is not None and v["date"] > end:
                continue
            events.append(Event(v["source_identifier"], v["source_type"], v["message"], v["date"]))
        return events

    async def prune(self) -> int:
        """Drop events older than the retention period; returns how many."""
        cutoff = self._clock() - RETENTION_SECONDS
        dropped = 0
        for rec in await self._store.list("events/"):
            if rec.value["date"] >= cutoff:
                break
            await self._store.delete(rec.key, rec.revision)
            dropped += 1
        return dropped
