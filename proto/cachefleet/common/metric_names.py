"""The CloudWatch ElastiCache metric names the agents report, and which engine figure each is.

The agent samples the engines by these tables; the coordinator keeps as Prometheus counters
exactly the metrics the agent sends as changes (COUNTERS), so both read one definition.
"""
from __future__ import annotations

# CloudWatch name -> the engine's counter; sent as the change over the sample period.
MEMCACHED_COUNTERS = {
    "NetworkBytesIn": "bytes_read", "NetworkBytesOut": "bytes_written",
    "NewConnections": "total_connections", "Evictions": "evictions", "Reclaimed": "reclaimed",
    "GetHits": "get_hits", "GetMisses": "get_misses", "CmdGet": "cmd_get", "CmdSet": "cmd_set",
}
MEMCACHED_GAUGES = {"CurrConnections": "curr_connections", "CurrItems": "curr_items",
                    "BytesUsedForCache": "bytes"}
REDIS_COUNTERS = {
    "NetworkBytesIn": "total_net_input_bytes", "NetworkBytesOut": "total_net_output_bytes",
    "NewConnections": "total_connections_received", "Evictions": "evicted_keys",
    "Reclaimed": "expired_keys", "CacheHits": "keyspace_hits", "CacheMisses": "keyspace_misses",
}
REDIS_GAUGES = {"CurrConnections": "connected_clients", "BytesUsedForCache": "used_memory"}
# Every metric sent as a change over the sample period (a primary's ReplicationBytes is the
# change of master_repl_offset); the coordinator sums these into Prometheus counters.
COUNTERS = frozenset({*MEMCACHED_COUNTERS, *REDIS_COUNTERS, "ReplicationBytes"})
