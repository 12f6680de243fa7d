"""Prometheus `/metrics`: every node's metrics under their CloudWatch names.

Labelled cache_cluster_id, cache_node_id and host. Gauges (`CurrConnections`,
`CPUUtilization`, ...) are the latest sample. Counters (`GetHits`, `Evictions`, ...; see
names.COUNTERS) are real Prometheus counters, `<Name>_total`: the sum of every delta the
agents sent since this coordinator first saw the node on that host, so use rate() or
increase() at any scrape interval (a coordinator restart is an ordinary counter reset).
Served by a small asyncio HTTP server on the coordinator's loop.
"""
from __future__ import annotations

import asyncio
from typing import TypeVar
from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from coordinator.metrics.names import COUNTERS, UNITS
from coordinator.metrics.store import MetricStore

log = structlog.get_logger("metrics.http")

LABELS = ("cache_cluster_id", "cache_node_id", "host")
STALE_AFTER_S = 120.0    # a node silent this long is no longer exported

F = TypeVar("F", GaugeMetricFamily, CounterMetricFamily)


def _family(families: dict[str, F], kind: type[F], name: str, what: str) -> F:
    """The family of `name`, made on first use (one HELP/TYPE per name, every node under it)."""
    family = families.get(name)
    if family is None:
        family = families[name] = kind(name, f"ElastiCache {name} ({UNITS.get(name, 'None')}), {what}",
                                       labels=LABELS)
    return family


class LatestCollector:
    """Collects the store's latest gauges and counter totals at scrape time."""

    def __init__(self, store: MetricStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        now = self._store.clock()
        gauges: dict[str, GaugeMetricFamily] = {}
        counters: dict[str, CounterMetricFamily] = {}
        for key, (host, at, values) in sorted(self._store.latest.items()):
            if now - at > STALE_AFTER_S:
                continue
            labels = [*key, host]
            for name, value in sorted(values.items()):
                if name not in COUNTERS:
                    _family(gauges, GaugeMetricFamily, name, "last sample").add_metric(labels, value)
            for name, value in sorted(self._store.totals.get(key, (host, {}))[1].items()):
                _family(counters, CounterMetricFamily, name, "total since the coordinator first saw the node"
                        ).add_metric(labels, value)
        yield from gauges.values()
        yield from counters.values()


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
