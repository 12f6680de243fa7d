"""Units: the per-minute store and its statistics, alarm evaluation, and how the agent turns
engine counters into CloudWatch's per-period figures."""
from __future__ import annotations

import asyncio
import math
import time

import grpc
import pytest
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.api.watch import HostMetricsService
from coordinator.metrics.alarms import Alarm, AlarmState, evaluate, validate
from coordinator.metrics.names import METRICS
from coordinator.domain.errors import ApiError
from coordinator.metrics.store import MetricStore, Series
from nodeagent import metrics as agent_metrics

T0 = 1_700_000_040.0    # a minute boundary (divisible by 60)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_samples_fold_into_minutes_then_into_periods():
    clock = FakeClock(T0 + 600)
    store = MetricStore(clock)
    for minute, values in enumerate([[1, 2, 3], [10], [4, 4]]):
        for i, value in enumerate(values):
            store.put("c1", "0001", "h1", {"GetHits": value}, at=T0 + minute * 60 + i)
    (at, one), = store.statistics("c1", "0001", "GetHits", 60, T0, T0 + 60)
    assert (at, one.sample_count, one.sum, one.minimum, one.maximum, one.average) == (T0, 3, 6, 1, 3, 2)
    # a 120 s period aligned on the epoch folds minutes 0 and 1 together
    points = store.statistics("c1", "0001", "GetHits", 120, T0, T0 + 180)
    assert [(at, s.sample_count, s.sum, s.minimum, s.maximum) for at, s in points] == [
        (T0, 4, 16, 1, 10), (T0 + 120, 2, 8, 4, 4)]
    assert points[0][1].average == 4


def test_cluster_statistics_fold_every_node_and_end_is_exclusive():
    store = MetricStore(FakeClock(T0 + 600))
    store.put("c1", "0001", "h1", {"CurrConnections": 5}, at=T0 + 1)
    store.put("c1", "0002", "h2", {"CurrConnections": 7}, at=T0 + 2)
    store.put("c2", "0001", "h1", {"CurrConnections": 100}, at=T0 + 3)
    (_, stats), = store.statistics("c1", "", "CurrConnections", 60, T0, T0 + 60)
    assert (stats.sample_count, stats.sum, stats.maximum) == (2, 12, 7)
    assert store.statistics("c1", "", "CurrConnections", 60, T0 + 60, T0 + 120) == []


def test_a_series_is_a_bounded_ring_that_keeps_the_newest_minutes():
    series = Series(capacity=5)
    for minute in range(12):
        series.add(minute, float(minute))
    assert len(series) == 5
    assert [m for m, _ in series.minutes_between(0, 100)] == [7, 8, 9, 10, 11]
    series.add(9, 100.0)          # a late sample of a kept minute merges into it
    series.add(2, 1.0)            # one older than the ring keeps is dropped
    kept = dict(series.minutes_between(0, 100))
    assert kept[9].sample_count == 2 and kept[9].maximum == 100 and 2 not in kept


def test_retention_hides_and_prunes_old_minutes():
    clock = FakeClock(T0)
    store = MetricStore(clock, retention_s=600)     # 10 minutes: rings of 10 slots
    assert store.capacity == 10
    store.put("c1", "0001", "h1", {"Evictions": 1}, at=T0)
    clock.now = T0 + 700
    assert store.statistics("c1", "0001", "Evictions", 60, T0 - 60, T0 + 60) == []
    assert store.prune() == 1 and len(store) == 0


def test_the_store_evicts_the_least_recently_fed_series_when_full():
    store = MetricStore(FakeClock(T0), max_series=2)
    store.put("c1", "0001", "h", {"A": 1}, at=T0)
    store.put("c1", "0001", "h", {"B": 1}, at=T0 + 1)
    store.put("c1", "0001", "h", {"C": 1}, at=T0 + 2)
    assert [k.metric_name for k in store.keys()] == ["B", "C"]


def test_a_host_past_its_share_loses_its_own_series_never_another_hosts():
    store = MetricStore(FakeClock(T0), max_series=100, max_series_per_host=3)
    store.put("real", "0001", "h1", {"A": 1, "B": 2})
    for i in range(50):                         # a host reporting made-up nodes
        store.put(f"fake{i}", "0001", "h2", {"A": 1})
    assert store.series_of_host("h2") == 3 and store.series_of_host("h1") == 2
    assert [k.cache_cluster_id for k in store.keys()] == ["fake47", "fake48", "fake49", "real", "real"]
    assert set(store.latest) == {("fake47", "0001"), ("fake48", "0001"), ("fake49", "0001"), ("real", "0001")}
    assert ("fake0", "0001") not in store.totals     # a node's latest and totals go with its last series


def test_a_series_counts_in_the_share_of_the_host_that_fed_it_last():
    """A node moved to another host: its series go with it into the new host's share."""
    store = MetricStore(FakeClock(T0), max_series=100, max_series_per_host=2)
    store.put("c1", "0001", "h1", {"A": 1, "B": 1})
    store.put("c1", "0001", "h2", {"A": 1, "B": 1})
    assert (store.series_of_host("h1"), store.series_of_host("h2")) == (0, 2)
    store.put("c2", "0001", "h1", {"A": 1, "B": 1})
    assert len(store) == 4


def test_the_total_is_capped_by_dropping_the_least_recently_fed_of_all():
    store = MetricStore(FakeClock(T0), max_series=3, max_series_per_host=10)
    store.put("c1", "0001", "h1", {"A": 1})
    store.put("c2", "0001", "h2", {"A": 1})
    store.put("c3", "0001", "h3", {"A": 1})
    store.put("c1", "0001", "h1", {"A": 2})     # fed again: now the most recent
    store.put("c4", "0001", "h4", {"A": 1})
    assert [k.cache_cluster_id for k in store.keys()] == ["c1", "c3", "c4"]


def test_eviction_does_not_grow_with_the_number_of_series():
    """Filling a store to 50 000 series, then bringing 50 000 new ones (each evicts one, as a
    report of made-up nodes does): the second half costs about what the first did. A scan for
    the oldest series cost 5 ms per eviction at this size: 4 minutes here."""
    store = MetricStore(FakeClock(T0), max_series=50_000, max_series_per_host=50_000)

    def feed(prefix: str, host: str) -> float:
        started = time.perf_counter()
        for i in range(2_500):
            store.put(f"{prefix}{i}", "0001", host, {f"M{j}": 1.0 for j in range(20)})
        return time.perf_counter() - started
    filling = feed("old", "h1")
    assert len(store) == 50_000
    evicting = feed("new", "flood")
    assert len(store) == 50_000 and store.series_of_host("flood") == 50_000
    assert evicting < 3 * filling + 0.5, f"filling took {filling:.2f} s, evicting {evicting:.2f} s"


def test_a_sample_with_nothing_storable_leaves_no_trace():
    store = MetricStore(FakeClock(T0))
    store.put("c1", "0001", "h", {"CPUUtilization": math.nan})
    store.put("c1", "0002", "h", {})
    assert store.latest == {} and store.totals == {}


def test_non_finite_values_are_not_stored():
    store = MetricStore(FakeClock(T0))
    store.put("c1", "0001", "h", {"CPUUtilization": math.nan}, at=T0)
    assert len(store) == 0


def _alarm(**kw) -> Alarm:
    base = dict(alarm_name="hits", metric_name="GetHits", cache_cluster_id="c1", cache_node_id="0001",
                statistic="Sum", period=60, evaluation_periods=2, threshold=10,
                comparison_operator="GreaterThanThreshold")
    return Alarm(**{**base, **kw})


def test_an_alarm_needs_every_evaluation_period_breaching():
    store = MetricStore(FakeClock(T0 + 600))
    alarm = _alarm()
    state, reason = evaluate(alarm, store, T0 + 120)
    assert state is AlarmState.INSUFFICIENT_DATA and "no datapoints" in reason
    store.put("c1", "0001", "h", {"GetHits": 50}, at=T0 + 10)
    store.put("c1", "0001", "h", {"GetHits": 5}, at=T0 + 70)
    assert evaluate(alarm, store, T0 + 125)[0] is AlarmState.OK
    store.put("c1", "0001", "h", {"GetHits": 11}, at=T0 + 130)
    # only complete minutes count: [T0, T0+120) has 50 then 5: OK
    assert evaluate(alarm, store, T0 + 150)[0] is AlarmState.OK
    store.put("c1", "0001", "h", {"GetHits": 30}, at=T0 + 75)    # that minute now sums 35
    state, reason = evaluate(alarm, store, T0 + 185)
    assert state is AlarmState.ALARM
    assert reason == "Threshold Crossed: Sum of GetHits [35, 11] > 10 for 2 of 2 period(s)"


@pytest.mark.parametrize("change, words", [
    (dict(metric_name="Nope"), "MetricName"),
    (dict(statistic="p99"), "Statistic"),
    (dict(period=90), "Period 90"),
    (dict(period=0), "Period 0"),
    (dict(evaluation_periods=0), "EvaluationPeriods"),
    (dict(comparison_operator="Bigger"), "ComparisonOperator"),
    (dict(alarm_name=""), "AlarmName"),
    (dict(cache_cluster_id=""), "CacheClusterId"),
    (dict(threshold=math.inf), "Threshold"),
    (dict(period=3600, evaluation_periods=25), "86400"),
])
def test_bad_alarm_rules_are_refused_with_invalid_parameter_value(change, words):
    with pytest.raises(ApiError) as caught:
        validate(_alarm(**change))
    assert caught.value.code == "InvalidParameterValue" and words in caught.value.message


# --- the agent's side ---

def test_memcached_counters_become_deltas_and_gauges_stay():
    stats = lambda hits, misses, conns: {"get_hits": str(hits), "get_misses": str(misses),  # noqa: E731
                                          "total_connections": str(conns), "curr_connections": "3",
                                          "curr_items": "7", "bytes": "1000", "pid": "42"}
    first = agent_metrics.memcached_reading(stats(10, 0, 5), at=100.0, pid=42)
    first.cpu_s = 1.0
    assert agent_metrics.derive("memcached", first, None) == {
        "CurrConnections": 3, "CurrItems": 7, "BytesUsedForCache": 1000}
    second = agent_metrics.memcached_reading(stats(40, 10, 6), at=102.0, pid=42)
    second.cpu_s = 1.5
    values = agent_metrics.derive("memcached", second, first)
    assert values["GetHits"] == 30 and values["GetMisses"] == 10 and values["NewConnections"] == 1
    assert values["CacheHitRate"] == 75.0 and values["CPUUtilization"] == 25.0
    # a restarted process (another pid): no deltas against the old one
    third = agent_metrics.memcached_reading(stats(1, 0, 1), at=104.0, pid=43)
    assert "GetHits" not in agent_metrics.derive("memcached", third, second)
    # ...unless no one reported that process before (it started after the agent): then all it served counts
    young = agent_metrics.memcached_reading(stats(7, 1, 2), at=104.0, pid=43)
    values = agent_metrics.derive("memcached", young, second, from_zero=True)
    assert (values["GetHits"], values["GetMisses"], values["NewConnections"]) == (7, 1, 2)
    assert "CPUUtilization" not in values


def test_redis_fields_give_role_lag_keys_and_replication_bytes():
    primary = {"role": "master", "master_repl_offset": "1000", "connected_clients": "4",
               "used_memory": "2048", "keyspace_hits": "9", "keyspace_misses": "1",
               "db0": "keys=3,expires=0,avg_ttl=0", "db2": "keys=4,expires=1,avg_ttl=5", "run_id": "r1"}
    a = agent_metrics.redis_reading(primary, at=1.0, pid=7)
    b = agent_metrics.redis_reading({**primary, "master_repl_offset": "1500", "keyspace_hits": "12"},
                                    at=2.0, pid=7)
    values = agent_metrics.derive("redis", b, a)
    assert values["IsMaster"] == 1 and values["CurrItems"] == 7 and values["ReplicationBytes"] == 500
    assert values["CacheHits"] == 3 and values["CacheMisses"] == 0 and values["CacheHitRate"] == 100.0
    behind = {"role": "slave", "master_link_status": "up", "master_last_io_seconds_ago": "2",
              "slave_read_repl_offset": "900", "slave_repl_offset": "800"}
    replica = agent_metrics.redis_reading(behind, at=1.0, pid=8)
    assert replica.gauges["IsMaster"] == 0 and replica.gauges["ReplicationLag"] == 2
    assert "ReplicationBytes" not in replica.counters


def test_an_idle_caught_up_replica_has_no_lag_between_the_primarys_pings():
    for last_io in ("0", "5", "9"):
        idle = {"role": "slave", "master_link_status": "up", "master_last_io_seconds_ago": last_io,
                "slave_read_repl_offset": "1000", "slave_repl_offset": "1000"}
        assert agent_metrics.redis_reading(idle, at=1.0, pid=8).gauges["ReplicationLag"] == 0
    down = {"role": "slave", "master_link_status": "down", "master_link_down_since_seconds": "7"}
    assert agent_metrics.redis_reading(down, at=1.0, pid=8).gauges["ReplicationLag"] == 7


def test_process_readings_come_from_this_process_and_none_from_a_gone_one():
    import os

    import psutil
    me, gone = os.getpid(), 2 ** 22 + 12345     # above pid_max's ceiling: never a live process
    assert agent_metrics.cpu_seconds(me) > 0
    assert agent_metrics.swap_bytes(me) >= 0
    assert agent_metrics.mem_available_bytes() > 0
    assert agent_metrics.cpu_seconds(gone) is None and agent_metrics.swap_bytes(gone) is None
    # from_zero's test: this process started after init did, and init not after this one
    assert agent_metrics.started_after(me, psutil.Process(1))
    assert not agent_metrics.started_after(1, psutil.Process(me))
    assert not agent_metrics.started_after(gone, psutil.Process(1))


def test_the_grafana_dashboard_only_uses_exported_metric_names():
    import json
    import pathlib
    import re

    from coordinator.metrics.names import COUNTERS, METRICS
    dashboard = json.loads((pathlib.Path(__file__).parents[2] / "dashboards" / "cachefleet.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for rate, name, total in re.findall(r"(rate\()?\b([A-Z][A-Za-z]+)(_total)?\{", target["expr"]):
                # counters are exported as <Name>_total and only make sense under rate(); gauges as they are
                assert bool(rate) == bool(total) == (name in COUNTERS), target["expr"]
                used.add(name)
    assert used and used <= METRICS, used - METRICS


def test_every_counter_the_agents_send_is_a_coordinator_counter():
    from coordinator.metrics.names import COUNTERS, METRICS
    sent = {*agent_metrics.MEMCACHED_COUNTERS, *agent_metrics.REDIS_COUNTERS, "ReplicationBytes"}
    assert sent == COUNTERS and COUNTERS <= METRICS
    assert not COUNTERS & {*agent_metrics.MEMCACHED_GAUGES, *agent_metrics.REDIS_GAUGES}


def test_prometheus_counters_add_up_the_deltas_and_gauges_keep_the_last_sample():
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from coordinator.metrics.prom import registry_for
    clock = [1000.0]
    store = MetricStore(clock=lambda: clock[0])

    def scrape() -> dict[tuple[str, str, str], float]:
        text = generate_latest(registry_for(store)).decode()
        return {(f.type, s.name, s.labels["cache_node_id"] + "@" + s.labels["host"]): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}
    store.put("c", "0001", "h1", {"GetHits": 3.0, "CurrItems": 5.0})
    store.put("c", "0001", "h1", {"GetHits": 4.0, "CurrItems": 6.0})
    store.put("c", "0001", "h1", {"CurrItems": 7.0})          # a sample without deltas keeps the total
    assert scrape() == {("counter", "GetHits_total", "0001@h1"): 7.0, ("gauge", "CurrItems", "0001@h1"): 7.0}
    store.put("c", "0001", "h2", {"GetHits": 2.0})            # replaced on another host: a new series from 0
    assert scrape() == {("counter", "GetHits_total", "0001@h2"): 2.0}
    store.forget_node("c", "0001")
    assert scrape() == {}


def test_the_metrics_endpoint_serves_the_store_at_slash_metrics_only():
    import asyncio
    import urllib.error
    import urllib.request

    from coordinator.metrics.prom import MetricsHttpServer
    store = MetricStore(FakeClock(T0))
    store.put("c", "0001", "h1", {"GetHits": 3.0, "CurrItems": 5.0}, at=T0)

    def get(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    async def scrape() -> tuple[int, tuple[int, str], tuple[int, str]]:
        server = MetricsHttpServer(store, "127.0.0.1:0")
        port = await server.start()
        try:   # from a thread: a scrape reads the store on this loop, which must stay free
            return (port, await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics"),
                    await asyncio.to_thread(get, f"http://127.0.0.1:{port}/nope"))
        finally:
            await server.stop()

    port, (status, text), (missing, _) = asyncio.run(scrape())
    assert port > 0 and status == 200 and missing == 404
    assert 'GetHits_total{cache_cluster_id="c",cache_node_id="0001",host="h1"} 3.0' in text
    assert 'CurrItems{cache_cluster_id="c",cache_node_id="0001",host="h1"} 5.0' in text
    assert "# TYPE GetHits_total counter" in text and "# TYPE CurrItems gauge" in text


def test_every_cache_watch_rpc_has_a_cli_verb():
    from coordinator.cli import main as cli
    from coordinator.cli.verbs import WATCH_SERVICE, WATCH_VERBS
    assert {m.name for m in WATCH_SERVICE.methods} == {verb.rpc for verb in WATCH_VERBS}
    choices = next(a for a in cli.build_parser()._actions if a.dest == "verb").choices
    assert {"get-metric-statistics", "list-metrics", "put-metric-alarm", "describe-alarms", "delete-alarms",
            "describe-node-metrics", "top"} <= set(choices)
    options = {o for action in choices["get-metric-statistics"]._actions for o in action.option_strings}
    assert {"--cache-cluster-id", "--cache-node-id", "--metric-name", "--period", "--start-time", "--end-time",
            "--statistics"} <= options


def test_alarm_book_persists_rules_records_each_change_once_and_keeps_state_after_a_restart(tmp_path):
    import asyncio

    from coordinator.state.events import EventLog
    from coordinator.metrics.alarms import AlarmBook
    from coordinator.state.store import SqliteStore

    async def scenario() -> None:
        clock = FakeClock(T0 + 5)
        store = SqliteStore(tmp_path / "state.db")
        events = EventLog(store, clock)
        metrics = MetricStore(clock)
        book = AlarmBook(store, metrics, events, clock)
        book.since = T0 - 600
        await book.put(_alarm(evaluation_periods=1))
        with pytest.raises(ApiError):
            await book.put(_alarm(period=61))                # refused: the stored rule is unchanged
        assert (await book.get("hits")).period == 60
        assert await book.evaluate_all() == []               # no data, and it starts INSUFFICIENT_DATA
        metrics.put("c1", "0001", "h", {"GetHits": 3}, at=T0 + 10)
        clock.now = T0 + 61
        assert await book.evaluate_all() == [
            "Alarm hits changed from INSUFFICIENT_DATA to OK: Sum of GetHits [3] not > 10 in all 1 period(s)"]
        metrics.put("c1", "0001", "h", {"GetHits": 30}, at=T0 + 70)
        clock.now = T0 + 121
        (change,) = await book.evaluate_all()
        assert change.startswith("Alarm hits changed from OK to ALARM: Threshold Crossed")
        assert await book.evaluate_all() == []              # one event per change
        messages = [e.message for e in await events.query("c1")]
        assert messages[-2:] == ["Alarm hits changed from INSUFFICIENT_DATA to OK: Sum of GetHits [3] not > 10 "
                                 "in all 1 period(s)", change]
        # a restarted coordinator (no metric data) keeps ALARM until a whole window is after its start
        restarted = AlarmBook(store, MetricStore(clock), events, clock)
        restarted.since = clock.now
        assert await restarted.evaluate_all() == [] and (await restarted.get("hits")).state_value == "ALARM"
        clock.now = T0 + 240
        (change,) = await restarted.evaluate_all()
        assert change.startswith("Alarm hits changed from ALARM to INSUFFICIENT_DATA")
        await store.close()

    asyncio.run(scenario())


# --- the coordinator's metric sink: bounded work per report -----------------------------------

class Refused(Exception):
    def __init__(self, code, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class Context:
    """What the sink and rpc_errors need of a grpc.aio.ServicerContext: a caller (a connection)."""

    def __init__(self, peer: str = "ipv4:127.0.0.1:40000") -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    async def abort(self, code, details: str):
        raise Refused(code, details)


def report(host_id: str, count: int, values: int = 2, prefix: str = "c") -> agent_pb.ReportMetricsRequest:
    names = sorted(METRICS)[:values] + [f"Extra{i}" for i in range(values - len(METRICS))]
    return agent_pb.ReportMetricsRequest(host_id=host_id, samples=[
        agent_pb.NodeMetricSample(cache_cluster_id=f"{prefix}{i}", cache_node_id="0001",
                                  values={name: 1.0 for name in names}) for i in range(count)])


def test_a_report_that_is_not_one_is_refused():
    with pytest.raises(Refused) as refused:
        asyncio.run(HostMetricsService(MetricStore(FakeClock(T0))).ReportMetrics(b"\xff\xff\xff", Context()))
    assert refused.value.details.startswith("InvalidParameterValue: ")


def test_an_oversized_report_is_refused_whole_and_stores_nothing():
    store = MetricStore(FakeClock(T0))
    service = HostMetricsService(store)
    for request in (report("h1", HostMetricsService.MAX_SAMPLES + 1),
                    report("h1", 3, values=HostMetricsService.MAX_VALUES + 1)):
        with pytest.raises(Refused) as refused:
            asyncio.run(service.ReportMetrics(request, Context()))
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details.startswith("InvalidParameterValue: ")
    assert len(store) == 0 and store.latest == {}


def test_samples_that_name_no_node_are_left_out():
    store = MetricStore(FakeClock(T0))
    request = report("h1", 2)
    request.samples[0].cache_cluster_id = "c0\n"
    request.samples.add(cache_cluster_id="c9", cache_node_id="1", values={"GetHits": 1.0})
    request.samples.add(cache_cluster_id="x" * 4096, cache_node_id="0001", values={"GetHits": 1.0})
    asyncio.run(HostMetricsService(store).ReportMetrics(request, Context()))
    assert set(store.latest) == {("c1", "0001")}


def test_a_host_stores_one_report_at_a_time_and_the_loop_stays_free_meanwhile():
    async def scenario():
        store = MetricStore(FakeClock(T0))
        service = HostMetricsService(store)
        first = asyncio.create_task(service.ReportMetrics(report("h1", 1000).SerializeToString(), Context()))
        turns = 0
        while not first.done():          # the loop gets turns while the report is stored
            await asyncio.sleep(0)
            turns += 1
            if turns == 1:
                for same_host_or_connection in (Context("ipv4:127.0.0.1:40001"), Context()):
                    with pytest.raises(Refused) as refused:
                        await service.ReportMetrics(report("h1", 1, prefix="again").SerializeToString(),
                                                    same_host_or_connection)
                    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert refused.value.details.startswith("Throttling: ")
                await service.ReportMetrics(report("h2", 1, prefix="other"), Context("ipv4:127.0.0.1:40002"))
        await first
        assert turns >= 1000 // HostMetricsService.CHUNK - 1
        assert len(store.latest) == 1001 and ("again0", "0001") not in store.latest
        await service.ReportMetrics(report("h1", 1, prefix="again"), Context())      # once answered
        assert ("again0", "0001") in store.latest
    asyncio.run(scenario())
