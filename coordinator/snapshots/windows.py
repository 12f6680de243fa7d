"""The daily snapshot window (`hh24:mi-hh24:mi`, UTC) and retention arithmetic.

An automated snapshot is due once per window: when the clock is inside today's window
(or inside yesterday's, for a window that wraps midnight) and none was taken for that
window's start. Automated snapshots older than the retention limit (in days) are pruned.
"""
from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from coordinator.domain import maintenance
from coordinator.domain.errors import combination, invalid

DAY = 24 * 3600
MIN_WINDOW_MINUTES = 60
MAX_RETENTION_DAYS = 35
_FORMAT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class DailyWindow:
    start: int     # minute of the day, UTC
    end: int

    @property
    def minutes(self) -> int:
        return (self.end - self.start) % 1440

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"

    def current_start(self, now: float) -> float | None:
        """The start (unix time) of the window the clock is in now, or None."""
        midnight = (now // DAY) * DAY
        for day_start in (midnight, midnight - DAY):
            start = day_start + self.start * 60
            if start <= now < start + self.minutes * 60:
                return start
        return None

    def overlaps(self, weekly: maintenance.Window) -> bool:
        """Whether any day's occurrence of this window meets the weekly maintenance window."""
        for day in range(7):
            start = day * 1440 + self.start
            for minute in range(start, start + self.minutes, 5):
                if (minute % maintenance.MINUTES_PER_WEEK - weekly.start) % maintenance.MINUTES_PER_WEEK \
                        < weekly.minutes:
                    return True
        return False


def parse(text: str) -> DailyWindow:
    match = _FORMAT.fullmatch(text.strip())
    if not match:
        raise invalid(f"SnapshotWindow must look like hh24:mi-hh24:mi (UTC), got {text!r}.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    window = DailyWindow(h1 * 60 + m1, h2 * 60 + m2)
    if window.minutes < MIN_WINDOW_MINUTES:
        raise invalid(f"SnapshotWindow must be at least {MIN_WINDOW_MINUTES} minutes, {text!r} is {window.minutes}.")
    return window


def retention(value: int) -> int:
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise invalid(f"SnapshotRetentionLimit must be between 0 and {MAX_RETENTION_DAYS} days, got {value}.")
    return value


def keep_apart(window: str, maintenance_window: str) -> None:
    """InvalidParameterCombination when the daily snapshot window meets the weekly maintenance
    window: a snapshot's fork during maintenance (a restart, a failover) would fail it. Checked
    whichever of the two a create or modify changes."""
    if window and maintenance_window and parse(window).overlaps(maintenance.parse(maintenance_window)):
        raise combination(f"SnapshotWindow {window} overlaps the maintenance window {maintenance_window}.")


def choose(text: str, resource_id: str, maintenance_window: str) -> str:
    """The window to store: the caller's (checked against the maintenance window), or one
    derived from the id that does not overlap it."""
    weekly = maintenance.parse(maintenance_window) if maintenance_window else None
    if text:
        keep_apart(text, maintenance_window)
        return str(parse(text))
    digest = int(hashlib.sha256(("snapshot:" + resource_id).encode()).hexdigest(), 16)
    for attempt in range(24):
        hour = (digest + attempt) % 24
        window = DailyWindow(hour * 60, (hour + 1) * 60 % 1440)
        if weekly is None or not window.overlaps(weekly):
            return str(window)
    return str(DailyWindow(0, 60))


def automated_name(resource_id: str, window_start: float) -> str:
    """ElastiCache's naming: automatic.<id>-yyyy-mm-dd-hh-mm."""
    moment = datetime.datetime.fromtimestamp(window_start, datetime.UTC)
    return f"automatic.{resource_id}-{moment:%Y-%m-%d-%H-%M}"


def expired(created: float, retention_days: int, now: float) -> bool:
    return created < now - retention_days * DAY
