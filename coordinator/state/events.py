"""The event log: one record per state change, kept 14 days, queried by DescribeEvents.

Keys are `events/<ms>-<seq>`, so the store's key order is time order: a query or the
pruning reads only the keys of its time range, never the whole log."""
from __future__ import annotations

import contextvars
import itertools
import time
from dataclasses import dataclass
from collections.abc import Awaitable, Callable

import structlog

from cachefleet.common.tls.authz import CALLER
from coordinator.state.store import Store

log = structlog.get_logger("events")

RETENTION_SECONDS = 14 * 24 * 3600
PREFIX = "events/"


def _key_at(date: float, after: bool = False) -> str:
    """The key prefix of events recorded at date (its millisecond): `events/<ms>`, 15 digits, so
    keys sort by time; with `after`, the first key past that millisecond."""
    ms = max(0, int(date * 1000) + (1 if after else 0))
    return f"{PREFIX}{ms:015d}"


@dataclass(frozen=True)
class Event:
    source_identifier: str
    source_type: str        # cache-cluster | host
    message: str
    date: float
    event_id: str = ""       # the key without 'events/': unique, sorts by time
    caller: str = ""         # the certificate whose call caused it (the audit trail); "": the fleet itself

    def caused_by(self, caller: str) -> bool:
        """Whether `caller` (a whole SPIFFE id, or the name at its end) caused this event."""
        return bool(self.caller) and (self.caller == caller or self.caller.rsplit("/", 1)[-1] == caller)


# The events recorded during one API call, so the audit can tell whether the call said anything.
CALL_EVENTS: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("cachefleet_call_events",
                                                                                 default=None)


def current_caller() -> str:
    """Who is calling, as events name it: the certificate's SPIFFE id; "" outside a call (the
    reconciler, the snapshot runner) and in plaintext mode, where nobody can be told apart."""
    caller = CALLER.get()
    return "" if caller is None else str(caller)


# records to write in the same transaction as an event (the notification outbox)
Outbox = Callable[[Event], Awaitable[list[tuple[str, dict]]]]


class EventLog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock
        self._seq = itertools.count()
        self._subscribers: list[Callable[[Event], None]] = []   # WatchEvents streams, the notifier
        self.outbox: Outbox | None = None

    async def record(self, source_type: str, source_identifier: str, message: str, notify: bool = True) -> Event:
        """Append an event; keys sort by time so listing is chronological.

        With `notify` the outbox hook's records (webhook deliveries) are written in
        the same transaction, so a crash cannot keep the event and lose its notification.
        Subscribers are called after the write; they must neither block nor raise."""
        date = self._clock()
        key = f"{_key_at(date)}-{next(self._seq) % 1_000_000:06d}"
        event = Event(source_identifier, source_type, message, date, key.removeprefix(PREFIX), current_caller())
        value = {"source_identifier": source_identifier, "source_type": source_type,
                 "message": message, "date": event.date}
        if event.caller:
            value["caller"] = event.caller
        extra: list[tuple[str, dict]] = []
        if notify and self.outbox is not None:
            try:
                extra = await self.outbox(event)
            except Exception:  # noqa: BLE001 - a notification problem must never lose the event
                log.exception("notification outbox failed", event_id=event.event_id)
        if extra:
            await self._store.transact([(key, value, None)] + [(k, v, None) for k, v in extra])
        else:
            await self._store.put(key, value)
        log.info("event", source_type=source_type, source_id=source_identifier, message=message,
                 caller=event.caller or None)
        in_call = CALL_EVENTS.get()
        if in_call is not None:
            in_call.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - one bad subscriber must not fail the recorder
                log.exception("event subscriber failed")
        return event

    def use_outbox(self, outbox: Outbox) -> Callable[[], None]:
        """Write outbox(event)'s records with every notified event from now on; returns the detach.

        A hook rather than a constructor argument: the notifier that provides it records
        events of its own (failed deliveries) in this log."""
        self.outbox = outbox

        def detach() -> None:
            if self.outbox == outbox:
                self.outbox = None
        return detach

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call callback(event) for every event recorded from now on; returns the unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def query(self, source_identifier: str = "", source_type: str = "",
                    start: float | None = None, end: float | None = None, caller: str = "") -> list[Event]:
        """Events of [start, end] (dates), filtered; only the keys of that time range are read."""
        events = []
        for rec in await self._store.list_range(_key_at(start) if start is not None else PREFIX,
                                                _key_at(end, after=True) if end is not None else PREFIX + "~"):
            v = rec.value
            if source_identifier and v["source_identifier"] != source_identifier:
                continue
            if source_type and v["source_type"] != source_type:
                continue
            if start is not None and v["date"] < start:
                continue
            if end is not None and v["date"] > end:
                continue
            event = Event(v["source_identifier"], v["source_type"], v["message"], v["date"],
                          rec.key.removeprefix(PREFIX), v.get("caller", ""))
            if caller and not event.caused_by(caller):
                continue
            events.append(event)
        return events

    async def prune(self) -> int:
        """Drop events older than the retention period; returns how many."""
        cutoff = self._clock() - RETENTION_SECONDS
        dropped = 0
        for rec in await self._store.list_range(PREFIX, _key_at(cutoff)):
            await self._store.delete(rec.key, rec.revision)
            dropped += 1
        return dropped
