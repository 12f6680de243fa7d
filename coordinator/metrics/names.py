"""The metric names the agents report (CloudWatch's ElastiCache names) and their units."""
from __future__ import annotations

from cachefleet.common.metric_names import COUNTERS as AGENT_COUNTERS

UNITS: dict[str, str] = {
    "CPUUtilization": "Percent",
    "FreeableMemory": "Bytes",
    "SwapUsage": "Bytes",
    "NetworkBytesIn": "Bytes",
    "NetworkBytesOut": "Bytes",
    "CurrConnections": "Count",
    "NewConnections": "Count",
    "CurrItems": "Count",
    "Evictions": "Count",
    "Reclaimed": "Count",
    "BytesUsedForCache": "Bytes",
    "GetHits": "Count",
    "GetMisses": "Count",
    "CmdGet": "Count",
    "CmdSet": "Count",
    "CacheHits": "Count",
    "CacheMisses": "Count",
    "CacheHitRate": "Percent",
    "ReplicationLag": "Seconds",
    "ReplicationBytes": "Bytes",
    "IsMaster": "Count",
}
METRICS: frozenset[str] = frozenset(UNITS)
# Sent by the agents as their change over the sample period (the agent decides); the rest are gauges.
COUNTERS: frozenset[str] = AGENT_COUNTERS
STATISTICS: tuple[str, ...] = ("Average", "Minimum", "Maximum", "Sum", "SampleCount")
