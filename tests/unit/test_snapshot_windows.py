"""The daily snapshot window and retention arithmetic (coordinator/snapshots/windows.py)."""
from __future__ import annotations

import datetime

import pytest

from coordinator.domain import maintenance
from coordinator.domain.errors import ApiError
from coordinator.snapshots import windows


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


@pytest.mark.parametrize("text", ["5:00-6:00", "05:00-05:30", "25:00-26:00", "05:00 06:00", ""])
def test_malformed_or_short_windows_are_refused(text):
    with pytest.raises(ApiError) as caught:
        windows.parse(text)
    assert caught.value.code == "InvalidParameterValue"


def test_the_window_the_clock_is_in_starts_today_or_yesterday_when_it_wraps_midnight():
    window = windows.parse("23:30-00:30")
    assert window.current_start(at("2026-11-26T23:45:00")) == at("2026-11-26T23:30:00")
    assert window.current_start(at("2026-11-27T00:15:00")) == at("2026-11-26T23:30:00")
    assert window.current_start(at("2026-11-27T00:30:00")) is None
    assert windows.parse("05:00-06:00").current_start(at("2026-11-26T04:59:59")) is None


def test_a_window_overlapping_the_weekly_maintenance_window_is_refused_and_the_default_avoids_it():
    weekly = "wed:05:00-wed:06:00"
    assert windows.parse("05:30-06:30").overlaps(maintenance.parse(weekly))
    assert not windows.parse("06:00-07:00").overlaps(maintenance.parse(weekly))
    with pytest.raises(ApiError) as caught:
        windows.choose("05:30-06:30", "c1", weekly)
    assert caught.value.code == "InvalidParameterCombination"
    for resource in ("a", "b", "c", "d", "e"):
        chosen = windows.choose("", resource, weekly)
        assert not windows.parse(chosen).overlaps(maintenance.parse(weekly))
        assert chosen == windows.choose("", resource, weekly)   # stable


def test_retention_is_0_to_35_days_and_names_follow_elasticache():
    assert windows.retention(0) == 0 and windows.retention(35) == 35
    with pytest.raises(ApiError):
        windows.retention(36)
    assert windows.automated_name("c1", at("2026-11-26T05:00:00")) == "automatic.c1-2026-11-26-05-00"
    assert windows.expired(at("2026-11-20T05:00:00"), 5, at("2026-11-26T05:00:00"))
    assert not windows.expired(at("2026-11-22T05:00:00"), 5, at("2026-11-26T05:00:00"))
