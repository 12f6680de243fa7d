"""The coordinator's own responsiveness on /metrics: every heartbeat answered is timed, and a
loop held by a blocking step shows as lag, so a slow lease answer can be told apart from a slow
network or a busy caller."""
from __future__ import annotations

import asyncio
import time
import urllib.request

from cachefleet.v1 import node_agent_pb2 as agent_pb
from prometheus_client.parser import text_string_to_metric_families

from coordinator.api.registry import HostRegistryService
from coordinator.metrics.prom import MetricsHttpServer
from coordinator.metrics.responsiveness import Responsiveness
from coordinator.metrics.store import MetricStore
from coordinator.state.registry import HostRegistry
from coordinator.state.store import SqliteStore


def histogram(text: str, name: str) -> dict[str, float]:
    """{le: cumulative count} and the _count of one histogram of a scrape."""
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {s.labels.get("le", s.name.rsplit("_", 1)[-1]): s.value for s in family.samples
                    if s.name.endswith(("_bucket", "_count"))}
    raise AssertionError(f"{name} not in the scrape")


def test_every_heartbeat_answered_is_counted_in_the_answer_histogram(tmp_path):
    async def main() -> dict[str, float]:
        store = SqliteStore(tmp_path / "state.db")
        responsiveness = Responsiveness()
        server = MetricsHttpServer(MetricStore(), "127.0.0.1:0", responsiveness.collectors())
        try:
            service = HostRegistryService(HostRegistry(store, 1.5), lambda: None, writable=lambda host_id: [],
                                          responsiveness=responsiveness)
            for i in range(3):
                await service.Heartbeat(agent_pb.HeartbeatRequest(host=agent_pb.HostInfo(
                    host_id=f"h{i}", address=f"127.0.2.{i + 1}", agent_endpoint=f"127.0.2.{i + 1}:7500")), None)
            port = await server.start()
            with await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/metrics") as answer:
                text = answer.read().decode()
            return histogram(text, "cachefleet_heartbeat_answer_seconds")
        finally:
            await server.stop()
            await store.close()
    answered = asyncio.run(main())
    assert answered["count"] == 3
    assert answered["+Inf"] == 3


def test_a_loop_held_by_a_blocking_step_shows_as_lag():
    async def main() -> Responsiveness:
        responsiveness = Responsiveness()
        sampler = asyncio.create_task(responsiveness.sample_loop_lag(every=0.005))
        await asyncio.sleep(0.02)
        time.sleep(0.12)     # a step that holds the loop
        await asyncio.sleep(0.02)
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        return responsiveness
    lag = asyncio.run(main()).loop_lag
    buckets = {float(s.labels["le"]): s.value for s in lag.collect()[0].samples if s.name.endswith("_bucket")}
    assert buckets[float("inf")] - buckets[0.1] >= 1      # one wake-up came at least 100 ms late
    assert buckets[0.05] >= 1                             # the others on time (under 50 ms late)
