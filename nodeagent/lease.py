"""The write lease: which primaries on this host may take writes, and until when.

The coordinator grants it in heartbeat answers: writes are allowed until
`lease_ms` after the agent SENT the heartbeat, for the primaries it lists. It
declares a host lost (and promotes elsewhere) only later than that, so a primary
cut off from the coordinator is fenced before another one can be promoted.
EnsureNode decides too: a node made primary is authorized, one made replica or
write_fenced is not. The newer word wins: an answer to a heartbeat sent before
an EnsureNode does not undo what that EnsureNode decided.

When no coordinator answers, the failsafe (failsafe.py) extends the lease of one
primary at a time, for as long as every replica's agent confirms it: `extended`.
Any word from a coordinator replaces those extensions: it is newer.

The lease is a fact about the host, not about the agent process, so it is kept in
a file: a restarted agent neither fences its primaries for nothing nor lets them
write past a lease it no longer knows. Times are CLOCK_MONOTONIC, which every
process on the machine shares until the next boot.
"""
from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Iterable

import structlog

from nodeagent.layout import write_atomic

log = structlog.get_logger("nodeagent.lease")

BOOT_ID = pathlib.Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


class Lease:
    def __init__(self, margin: float, path: pathlib.Path | None = None) -> None:
        self.margin = margin        # fence this long before the lease runs out
        self.until = 0.0            # monotonic time the lease runs out; 0: none granted
        self.authorized: set[str] = set()
        self._path = path
        self._boot_id = boot_id()
        self._decided: dict[str, tuple[float, bool]] = {}  # node key -> (when, writable), by EnsureNode
        self.length = 0.0           # seconds the coordinator last granted: what the failsafe grants too
        self._extended: dict[str, float] = {}  # node key -> until, granted by its replicas (failsafe)

    def granted(self, sent_at: float, lease_ms: int, writable: Iterable[str]) -> None:
        """A heartbeat sent at sent_at was answered: lease_ms (0: none) for the writable primaries."""
        self.until = sent_at + max(lease_ms, 0) / 1000
        self.length = max(lease_ms, 0) / 1000
        self._extended.clear()
        newer = {key: allowed for key, (at, allowed) in self._decided.items() if at > sent_at}
        self.authorized = {key for key in writable if key not in newer}
        self.authorized |= {key for key, allowed in newer.items() if allowed}
        self._decided = {key: self._decided[key] for key in newer}
        self._save()

    def decide(self, node_key: str, writable: bool, now: float | None = None) -> None:
        """EnsureNode's word on one node: primary and not write_fenced, or not."""
        now = time.monotonic() if now is None else now
        self._decided[node_key] = (now, writable)
        if writable:
            self.authorized.add(node_key)
        else:
            self.authorized.discard(node_key)
            self._extended.pop(node_key, None)
        self._save()

    def overdue(self, now: float | None = None) -> bool:
        """The coordinator has not renewed the lease for half its length: time for the failsafe."""
        now = time.monotonic() if now is None else now
        return now >= self.until - self.length / 2

    def extend(self, node_key: str, until: float) -> None:
        """Every replica of an authorized primary confirmed it: writable until `until`."""
        if node_key in self.authorized:
            self._extended[node_key] = max(until, self._extended.get(node_key, 0.0))
            self._save()

    def may_write(self, node_key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        until = max(self.until, self._extended.get(node_key, 0.0))
        return now < until - self.margin and node_key in self.authorized

    def fence_at(self) -> float:
        """When may_write turns false for every authorized node."""
        return max([self.until, *self._extended.values()]) - self.margin

    def load(self) -> None:
        """Take over the lease a previous agent process saved, if it is from this boot."""
        if self._path is None:
            return
        try:
            saved = json.loads(self._path.read_text())
            if not self._boot_id or saved["boot_id"] != self._boot_id:
                return
            self.until, self.authorized = float(saved["until"]), set(saved["authorized"])
            self.length = float(saved.get("length", 0.0))
            self._extended = {key: float(until) for key, until in saved.get("extended", {}).items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("saved lease unreadable; starting without one", error=str(error))
            return
        log.info("lease taken over", remaining_s=round(self.until - time.monotonic(), 3),
                 authorized=sorted(self.authorized))

    def _save(self) -> None:
        if self._path is not None:
            write_atomic(self._path, json.dumps({"boot_id": self._boot_id, "until": self.until,
                                                 "length": self.length, "extended": self._extended,
                                                 "authorized": sorted(self.authorized)}) + "\n")
