"""`cachefleet top`: a live table of clusters and nodes with their status and key metrics.

One frame = DescribeCacheClusters (status, hosts) + DescribeNodeMetrics (the latest
sample of every node), so a frame costs two calls whatever the fleet's size. `--once`
prints one frame and exits (scripts, tests); otherwise the screen is redrawn every
`--interval` seconds until Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable


from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_watch_pb2 as watch_pb
from coordinator.cli import connect
from coordinator.cli.usage import UsageError, default_endpoint
from coordinator.cli.verbs import WATCH_SERVICE

SUMMARY = "A live table of clusters and nodes: status, CPU, memory, connections, hit rate, evictions, role."
COLUMNS = ("CLUSTER", "NODE", "ENGINE", "STATUS", "HOST", "CPU%", "MEM USED", "CONNS", "HIT%",
           "EVICTIONS", "ROLE")
CLEAR = "\x1b[H\x1b[2J"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-cluster-id", help="only this cluster")
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                        help="seconds between refreshes (default 2)")
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument("--endpoint", default=argparse.SUPPRESS, metavar="HOST:PORT",
                        help="the coordinator (env CACHEFLEET_ENDPOINT; default: the local fleet's, else 127.0.0.1:7420)")


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "-"


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _role(engine: str, values: dict[str, float]) -> str:
    if "IsMaster" not in values:
        return "-"
    if values["IsMaster"]:
        return "primary"
    lag = values.get("ReplicationLag")
    return "replica" if lag is None else f"replica lag {lag:.0f}s"


def rows(clusters: list[pb.CacheCluster], metrics: list[watch_pb.NodeMetrics]) -> list[tuple[str, ...]]:
    """One row per node (a cluster without nodes gets one row of its own)."""
    latest = {(m.cache_cluster_id, m.cache_node_id): dict(m.values) for m in metrics}
    out = []
    for cluster in sorted(clusters, key=lambda c: c.cache_cluster_id):
        if not cluster.cache_nodes:
            out.append((cluster.cache_cluster_id, "-", cluster.engine, cluster.cache_cluster_status,
                        *("-",) * (len(COLUMNS) - 4)))
        for node in sorted(cluster.cache_nodes, key=lambda n: n.cache_node_id):
            v = latest.get((cluster.cache_cluster_id, node.cache_node_id), {})
            out.append((cluster.cache_cluster_id, node.cache_node_id, cluster.engine, node.cache_node_status,
                        node.host_id or "-", _num(v.get("CPUUtilization"), "{:.1f}"),
                        _bytes(v.get("BytesUsedForCache")), _num(v.get("CurrConnections")),
                        _num(v.get("CacheHitRate"), "{:.1f}"), _num(v.get("Evictions")),
                        _role(cluster.engine, v)))
    return out


def render(table: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [COLUMNS, *table]) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [COLUMNS, *table]]
    return "\n".join(lines) + "\n"


def frame(client, cluster_id: str | None) -> str:
    clusters = client.call("DescribeCacheClusters", pb.DescribeCacheClustersRequest(
        cache_cluster_id=cluster_id or "", show_cache_node_info=True)).cache_clusters
    metrics = client.call("DescribeNodeMetrics", watch_pb.DescribeNodeMetricsRequest(
        cache_cluster_id=cluster_id or ""), WATCH_SERVICE).nodes
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return f"cachefleet top  {stamp} UTC  {len(clusters)} cluster(s)\n\n" + render(rows(list(clusters), list(metrics)))


def run(args: argparse.Namespace, client_class: Callable) -> int:
    endpoint = getattr(args, "endpoint", None) or os.environ.get("CACHEFLEET_ENDPOINT") or default_endpoint()
    if args.interval <= 0:
        raise UsageError("argument --interval: must be more than 0")
    try:
        endpoint, channel = connect.open_any(args, endpoint)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    client = client_class(channel, endpoint, getattr(args, "cli_read_timeout", 60.0),
                          opener=lambda leader: connect.open_channel(args, leader))
    with channel, contextlib.closing(client):
        while True:
            text = frame(client, args.cache_cluster_id)
            if args.once:
                sys.stdout.write(text)
                return 0
            sys.stdout.write((CLEAR if sys.stdout.isatty() else "") + text)
            sys.stdout.flush()
            time.sleep(args.interval)
