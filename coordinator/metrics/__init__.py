"""Metrics and alarms: the per-minute store, statistics, alarm rules, and the Prometheus view."""
from .names import METRICS, STATISTICS, UNITS
from .store import MetricStore, SeriesKey, Stats

__all__ = ["METRICS", "STATISTICS", "UNITS", "MetricStore", "SeriesKey", "Stats"]
