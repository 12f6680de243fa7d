"""Prometheus `/metrics`: every node's latest sample under its CloudWatch name.

Gauges named as CloudWatch names them (`CurrConnections`, `Evictions`, ...), labelled
cache_cluster_id, cache_node_id and host; counters are the change over the agent's
last sample period, as CloudWatch shows them (Prometheus users wanting rates can
sum_over_time them). Served by a small asyncio HTTP server on the coordinator's loop.
"""
from __future__ import annotations

import asyncio
from typing import Iterator

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .names import UNITS
from .store import MetricStore

log = structlog.get_logger("metrics.http")

LABELS = ("cache_cluster_id", "cache_node_id", "host")
STALE_AFTER_S = 120.0    # a node silent this long is no longer exported


class LatestCollector:
    """Collects from the store's latest samples at scrape time."""

    def __init__(self, store: MetricStore) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._store.clock()
        families: dict[str, GaugeMetricFamily] = {}
        for (cluster_id, node_id), (host, at, values) in sorted(self._store.latest.items()):
            if now - at > STALE_AFTER_S:
                continue
            for name, value in sorted(values.items()):
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(
                        name, f"ElastiCache {name} ({UNITS.get(name, 'None')}), last sample", labels=LABELS)
                family.add_metric([cluster_id, node_id, host], value)
        yield from families.values()


def registry_for(store: MetricStore) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LatestCollector(store))
    return registry


class MetricsHttpServer:
    """GET /metrics (anything else: 404) on host:port; port 0 picks a free one."""

    def __init__(self, store: MetricStore, listen: str) -> None:
        self._registry = registry_for(store)
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host or "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics endpoint serving", url=f"http://{self.host}:{self.port}/metrics")
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = request.decode(errors="replace").split()
            if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1].split("?")[0] == "/metrics":
                body = generate_latest(self._registry)
                status, ctype = "200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, ctype = b"not found: try /metrics\n", "404 Not Found", "text/plain"
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n").encode()
            writer.write(head + (b"" if parts and parts[0] == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
