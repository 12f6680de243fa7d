"""Prometheus `/metrics`: every node's metrics under their CloudWatch names.

Labelled cache_cluster_id, cache_node_id and host. Gauges (`CurrConnections`,
`CPUUtilization`, ...) are the latest sample. Counters (`GetHits`, `Evictions`, ...; see
names.COUNTERS) are real Prometheus counters, `<Name>_total`: the sum of every delta the
agents sent since this coordinator first saw the node on that host, so use rate() or
increase() at any scrape interval (a coordinator restart is an ordinary counter reset).
Served by prometheus_client's own WSGI app in a thread of its own; a scrape reads the store
on the coordinator's loop (which alone writes it), so it never sees a half-made sample.
"""
from __future__ import annotations

import asyncio
import functools
import socket
import threading
from typing import TypeVar
from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.registry import Collector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer

from coordinator.metrics.names import COUNTERS, UNITS
from coordinator.metrics.store import MetricStore

log = structlog.get_logger("metrics.http")

LABELS = ("cache_cluster_id", "cache_node_id", "host")
STALE_AFTER_S = 120.0    # a node silent this long is no longer exported
READ_TIMEOUT_S = 5.0     # how long a scrape waits for the loop to copy the store

F = TypeVar("F", GaugeMetricFamily, CounterMetricFamily)
# (cluster, node), host, {gauge or counter: last value}, {counter: total}
Row = tuple[tuple[str, str], str, dict[str, float], dict[str, float]]


def _family(families: dict[str, F], kind: type[F], name: str, what: str) -> F:
    """The family of `name`, made on first use (one HELP/TYPE per name, every node under it)."""
    family = families.get(name)
    if family is None:
        family = families[name] = kind(name, f"ElastiCache {name} ({UNITS.get(name, 'None')}), {what}",
                                       labels=LABELS)
    return family


def exported_rows(store: MetricStore) -> list[Row]:
    """Copies of what a scrape shows: every node heard from lately, its last sample and its totals."""
    now = store.clock()
    rows = []
    for key, (host, at, values) in sorted(store.latest.items()):
        if now - at <= STALE_AFTER_S:
            rows.append((key, host, dict(values), dict(store.totals.get(key, (host, {}))[1])))
    return rows


class LatestCollector:
    """Collects the store's latest gauges and counter totals at scrape time."""

    def __init__(self, read: Callable[[], list[Row]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        gauges: dict[str, GaugeMetricFamily] = {}
        counters: dict[str, CounterMetricFamily] = {}
        for key, host, values, totals in self._read():
            labels = [*key, host]
            for name, value in sorted(values.items()):
                if name not in COUNTERS:
                    _family(gauges, GaugeMetricFamily, name, "last sample").add_metric(labels, value)
            for name, value in sorted(totals.items()):
                _family(counters, CounterMetricFamily, name, "total since the coordinator first saw the node"
                        ).add_metric(labels, value)
        yield from gauges.values()
        yield from counters.values()


def registry_for(store: MetricStore, loop: asyncio.AbstractEventLoop | None = None,
                 own: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry of the store's metrics; with loop, each scrape reads the store on that loop.
    own: the coordinator's metrics of itself (metrics/responsiveness.py), beside the nodes'."""
    read = functools.partial(exported_rows, store)
    if loop is not None:
        read = functools.partial(_read_on, loop, read)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LatestCollector(read))
    for collector in own:
        registry.register(collector)
    return registry


def _read_on(loop: asyncio.AbstractEventLoop, read: Callable[[], list[Row]]) -> list[Row]:
    async def on_loop() -> list[Row]:
        return read()
    return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(READ_TIMEOUT_S)


def only_metrics_path(app: Callable) -> Callable:
    """The app at /metrics, 404 elsewhere (prometheus_client's app answers on any path)."""
    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics\n"]
        return app(environ, start_response)
    return wsgi


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a scrape every few seconds is not news."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class MetricsHttpServer:
    """GET /metrics (anything else: 404) on host:port; port 0 picks a free one."""

    def __init__(self, store: MetricStore, listen: str, own: Iterable[Collector] = ()) -> None:
        self._store = store
        self._own = list(own)
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self._server: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> int:
        """Listen and serve; returns the port bound."""
        app = only_metrics_path(make_wsgi_app(registry_for(self._store, asyncio.get_running_loop(), self._own)))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        class Server(ThreadingWSGIServer):
            address_family = family

        self._server = make_server(self.host, self.port, app, Server, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics http", daemon=True)
        self._thread.start()
        log.info("metrics endpoint serving", url=f"http://{self.host}:{self.port}/metrics")
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            # shutdown() waits for serve_forever to return, which may be on a scrape that waits for this loop
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            self._server = None
