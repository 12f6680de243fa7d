"""Metrics and alarms: the per-minute store, statistics, alarm rules, and the Prometheus view."""
from coordinator.metrics.names import METRICS, STATISTICS, UNITS
from coordinator.metrics.store import MetricStore, SeriesKey, Stats

__all__ = ["METRICS", "STATISTICS", "UNITS", "MetricStore", "SeriesKey", "Stats"]
