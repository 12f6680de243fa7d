"""The limits every cachefleet gRPC server runs with: `grpc.aio.server(**server_settings())`.

A server with gRPC's defaults takes as many concurrent calls as clients open, keeps a
connection to a vanished peer (a WatchEvents stream whose client's host died) until the
kernel gives up, and has no stated message limit. So both daemons set, in one place:

- **message size**: 4 MiB in (the largest legitimate request, a ReportMetrics of a
  thousand nodes, is well under 1 MiB), 16 MiB out (a page of any Describe call);
- **concurrency**: at most `max_concurrent_rpcs` calls at once (1,000; the coordinator 10,000,
  a call from each host of its fleet at once and the API beside), beyond which a call is
  answered RESOURCE_EXHAUSTED at once instead of queueing, and at most
  `max_streams_per_connection` on one connection, so one client cannot take them all;
- **keepalive**: the server pings a connection silent for 30 s and drops it when no
  answer comes within 10 s; clients may ping every 5 s at the most (more often is a
  strike; two strikes close the connection).

Whether a second server may share the port (SO_REUSEPORT) is off too: a second
coordinator or agent on the same port must fail to start, not split the calls.
"""
from __future__ import annotations

from typing import Any

MIB = 1024 * 1024
MAX_RECEIVE_BYTES = 4 * MIB
MAX_SEND_BYTES = 16 * MIB
MAX_CONCURRENT_RPCS = 1000
# The coordinator's: every agent of a fleet of thousands of hosts heartbeats at once when it
# (re)starts, each call held until the first reconcile cycle; refused, they would be retried
# and fail over to another coordinator for nothing.
COORDINATOR_MAX_CONCURRENT_RPCS = 10_000
MAX_STREAMS_PER_CONNECTION = 100
KEEPALIVE_TIME_MS = 30_000
KEEPALIVE_TIMEOUT_MS = 10_000
MIN_CLIENT_PING_INTERVAL_MS = 5_000


def server_settings(max_receive_bytes: int = MAX_RECEIVE_BYTES,
                    max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
                    max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION) -> dict[str, Any]:
    """Keyword arguments for grpc.aio.server(): its channel options and its concurrency limit."""
    options: list[tuple[str, Any]] = [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ("grpc.max_concurrent_streams", max_streams_per_connection),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 2),
    ]
    return {"options": options, "maximum_concurrent_rpcs": max_concurrent_rpcs}
