"""A failover's timeline, read from the fleet's JSON log (`up --log-format json`).

Every process of a local fleet writes its structlog lines to the one log `up` was started
with, each with its wall-clock `timestamp` (ISO, UTC, microseconds); all of them run on one
machine, so those times compare with the benchmark's own wall clock at the kill. Each step
is the first line, at or after the kill, that says the step was done:

  detect    the old primary's agent sees its engine gone (the engine dropped the agent's
            kept connection, or supervisord reports the process exited);
  report    the coordinator receives the report that says it stopped (neither step, when
            the agent died with its engine: the host row);
  replicas  the coordinator has heard from every replica that its link is down (what the
            choice of the replica furthest ahead waits for);
  decide    the coordinator orders the promotion;
  promote   the new primary's agent has run REPLICAOF NO ONE (it accepts writes);
  dns       the primary endpoint name resolves to the new primary (the zone was written);
  client    the writer's first write a new primary acknowledged (measured by the writer).
"""
from __future__ import annotations

import datetime
import json
import pathlib
import statistics
from collections.abc import Callable, Iterable

STEPS = ("detect", "report", "replicas", "decide", "promote", "dns", "client")
DEAD = ("NODE_STATUS_STOPPED", "NODE_STATUS_FAILED")


class LogCursor:
    """Reads the lines a log gained since `mark()`."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def entries(self) -> list[dict]:
        """The JSON objects written since the mark (other lines, the banner, are skipped).

        A process writes a line's object and its newline in two writes, so two processes
        logging at once can leave `{...}{...}` on one line: every object on it is read."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read().decode(errors="replace")
        decoder = json.JSONDecoder()
        found = []
        for line in data.splitlines():
            at = 0
            while line.startswith("{", at):
                try:
                    entry, at = decoder.raw_decode(line, at)
                except ValueError:
                    break
                if isinstance(entry, dict) and "timestamp" in entry:
                    found.append(entry)
        return found


def wall(entry: dict) -> float:
    return datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()


def timeline(entries: Iterable[dict], killed_wall: float, old_key: str, new_key: str, replica_keys: list[str],
             group_id: str, primary_name: str) -> dict[str, float | None]:
    """Seconds from the kill to each step but `client` (None: no line says it)."""
    later = sorted((e for e in entries if wall(e) >= killed_wall), key=wall)

    def first(match: Callable[[dict], bool]) -> float | None:
        return next((wall(e) - killed_wall for e in later if match(e)), None)

    def said(event: str, **fields: object) -> Callable[[dict], bool]:
        return lambda e: e.get("event") == event and all(e.get(k) == v for k, v in fields.items())

    detect = [t for t in (first(said("engine dropped the agent's connection", node_key=old_key)),
                          first(said("node status changed", node_key=old_key, status="stopped"))) if t is not None]
    links = [first(lambda e, key=key: e.get("event") == "node report changed" and e.get("node_key") == key
                   and e.get("link_status") != "LINK_STATE_UP") for key in replica_keys]
    decide = first(said("failover ordered", group_id=group_id))

    def before_decision(at: float | None) -> float | None:
        """A sighting after the order is no part of this failover (a killed host's agent,
        started again, says its old engine is stopped)."""
        return None if at is None or (decide is not None and at > decide) else at
    return {
        "detect": before_decision(min(detect, default=None)),
        "report": before_decision(first(lambda e: e.get("event") == "node report changed"
                                        and e.get("node_key") == old_key and e.get("status") in DEAD)),
        "replicas": None if None in links or not links else max(t for t in links if t is not None),
        "decide": decide,
        "promote": first(said("replication changed", node_key=new_key, action="promoted")),
        "dns": first(lambda e: e.get("event") == "dns.synced" and primary_name.lower() in e.get("changed", ())),
    }


def medians(breakdowns: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for step in STEPS:
        values = [b[step] for b in breakdowns if b.get(step) is not None]
        out[step] = statistics.median(values) if values else None     # type: ignore[type-var]
    return out


def line(breakdown: dict[str, float | None]) -> str:
    """`detect 1 ms, report 4 ms, ...`: each step's time from the kill."""
    return ", ".join(f"{step} {'-' if breakdown.get(step) is None else f'{breakdown[step] * 1000:.0f} ms'}"
                     for step in STEPS)
