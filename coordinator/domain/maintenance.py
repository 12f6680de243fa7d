"""Weekly maintenance windows: `ddd:hh24:mi-ddd:hh24:mi`, UTC, at least 60 minutes.

Changes made without ApplyImmediately wait in PendingModifiedValues and are applied by
the reconciler once the clock is inside the resource's window.
"""
from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from coordinator.domain.errors import invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_WEEK = 7 * 24 * 60
MIN_WINDOW_MINUTES = 60
_FORMAT = re.compile(r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-"
                     r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Window:
    start: int      # minute of the week, Monday 00:00 UTC = 0
    end: int

    @property
    def minutes(self) -> int:
        return (self.end - self.start) % MINUTES_PER_WEEK

    def contains(self, unix_time: float) -> bool:
        minute = minute_of_week(unix_time)
        return (minute - self.start) % MINUTES_PER_WEEK < self.minutes

    def __str__(self) -> str:
        return f"{_fmt(self.start)}-{_fmt(self.end)}"


def minute_of_week(unix_time: float) -> int:
    moment = datetime.datetime.fromtimestamp(unix_time, datetime.UTC)
    return moment.weekday() * 1440 + moment.hour * 60 + moment.minute


def _fmt(minute: int) -> str:
    return f"{DAYS[minute // 1440]}:{minute % 1440 // 60:02d}:{minute % 60:02d}"


def parse(text: str) -> Window:
    """The window, or InvalidParameterValue saying what is wrong with it."""
    match = _FORMAT.fullmatch(text.strip().lower())
    if not match:
        raise invalid(f"PreferredMaintenanceWindow must look like ddd:hh24:mi-ddd:hh24:mi (UTC), got {text!r}.")
    d1, h1, m1, d2, h2, m2 = match.groups()
    window = Window(DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1), DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2))
    if window.minutes < MIN_WINDOW_MINUTES:
        raise invalid(f"PreferredMaintenanceWindow must be at least {MIN_WINDOW_MINUTES} minutes, "
                      f"{text!r} is {window.minutes}.")
    return window


def default_window(resource_id: str) -> str:
    """A 60-minute window chosen from the id (stable, and spread over the week's nights)."""
    digest = int(hashlib.sha256(resource_id.encode()).hexdigest(), 16)
    day, hour = digest % 7, 1 + digest // 7 % 6          # 01:00 to 06:00 UTC
    start = day * 1440 + hour * 60
    return str(Window(start, start + 60))
