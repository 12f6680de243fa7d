"""Metrics and alarms end to end: real agents sample real memcached and redis-server every
second, the coordinator folds the samples into minutes, serves GetMetricStatistics and
Prometheus /metrics, and evaluates alarms over complete minutes of its (test-shifted) clock."""
from __future__ import annotations

import json
import time
import urllib.request

import grpc
import pytest
import redis
from google.protobuf.timestamp_pb2 import Timestamp
from pymemcache.client.base import Client as Memcache

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_watch_pb2 as wpb
from cachefleet.v1 import cache_watch_pb2_grpc as wpb_grpc
from coordinator.cli import main as cli
from tests.helpers import fleet as fleet_module
from tests.helpers.fleet import Fleet, free_port, wait_for


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    metrics_port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(fleet_module.ENV, "CACHEFLEET_METRICS_INTERVAL", "1")   # agents sample every second
        f = Fleet(tmp_path_factory.mktemp("metrics"), hosts=2,
                  coordinator_env={"CACHEFLEET_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"})
        f.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        f.watch = wpb_grpc.CacheWatchStub(f.channel())
        f.start()
        yield f
        f.discard()


def now(fleet: Fleet) -> float:
    """The coordinator's clock (the fleet shifts it)."""
    return time.time() + fleet.clock_offset()


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def create(fleet: Fleet, cluster_id: str, engine: str = "memcached") -> tuple[str, int, str]:
    """A one-node cluster, available; its node's address, port and host id."""
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id=cluster_id, engine=engine, cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    cluster = fleet.wait_status(cluster_id, "available", 20)
    node = cluster.cache_nodes[0]
    (address,) = fleet.resolve(node.endpoint.address)
    return address, node.endpoint.port, node.host_id


def stats(fleet: Fleet, cluster_id: str, metric: str, period: int = 3600, node_id: str = "0001",
          start: float | None = None, end: float | None = None) -> list[wpb.Datapoint]:
    t = now(fleet)
    start = t - 3600 if start is None else start
    end = t + 3600 if end is None else end
    return list(fleet.watch.GetMetricStatistics(wpb.GetMetricStatisticsRequest(
        cache_cluster_id=cluster_id, cache_node_id=node_id, metric_name=metric, period=period,
        start_time=ts(start), end_time=ts(end),
        statistics=["Sum", "Average", "SampleCount", "Minimum", "Maximum"]), timeout=2).datapoints)


def total(fleet: Fleet, cluster_id: str, metric: str, **kw) -> float:
    return sum(p.sum for p in stats(fleet, cluster_id, metric, **kw))


def latest(fleet: Fleet, cluster_id: str) -> dict[str, float]:
    nodes = fleet.watch.DescribeNodeMetrics(wpb.DescribeNodeMetricsRequest(cache_cluster_id=cluster_id),
                                            timeout=2).nodes
    return dict(nodes[0].values) if nodes else {}


def test_memcached_get_hits_move_and_statistics_give_their_sum_and_average(fleet):
    address, port, _ = create(fleet, "m1")
    client = Memcache((address, port), timeout=2)
    client.set("k", b"v")
    for _ in range(25):
        assert client.get("k") == b"v"
    for i in range(5):
        assert client.get(f"missing-{i}") is None
    wait_for(lambda: total(fleet, "m1", "GetHits") == 25 and total(fleet, "m1", "GetMisses") == 5, 15,
             interval=0.3, what="25 hits and 5 misses in GetMetricStatistics")
    assert total(fleet, "m1", "CmdGet") == 30 and total(fleet, "m1", "CmdSet") == 1
    # minute periods: each datapoint's Average is its Sum over its SampleCount (one per agent sample)
    minutes = stats(fleet, "m1", "GetHits", period=60)
    assert sum(p.sum for p in minutes) == 25 and all(p.unit == "Count" for p in minutes)
    for p in minutes:
        assert p.sample_count >= 1 and p.average == pytest.approx(p.sum / p.sample_count)
        assert p.minimum <= p.average <= p.maximum
    # the cluster's figure folds its nodes (one here): the same sum
    assert total(fleet, "m1", "GetHits", node_id="") == 25
    values = wait_for(lambda: (v := latest(fleet, "m1")) and "CPUUtilization" in v and v, 10,
                      what="a second sample (deltas) of m1")
    assert values["CurrItems"] >= 1 and values["BytesUsedForCache"] > 0 and values["CurrConnections"] >= 1
    assert values["FreeableMemory"] > 0 and "SwapUsage" in values and values["CPUUtilization"] >= 0
    client.close()


def test_filling_a_small_memcached_node_shows_evictions(fleet):
    address, port, _ = create(fleet, "small")          # cache.t1.micro: 213 MB, the smallest node type
    client = Memcache((address, port), timeout=5)
    value = b"x" * (900 * 1024)
    for i in range(400):                               # ~350 MB into 213 MB
        client.set(f"fill-{i}", value, noreply=True)
    client.get("fill-399")                             # every set is done
    evictions = wait_for(lambda: total(fleet, "small", "Evictions") or None, 15, interval=0.3,
                         what="Evictions of the full node")
    assert evictions > 0
    wait_for(lambda: 0 < latest(fleet, "small").get("CurrItems", 0) < 400, 10, what="CurrItems below 400")
    assert latest(fleet, "small")["BytesUsedForCache"] > 150 * 1024 * 1024
    client.close()


def test_redis_node_reports_cache_hits_misses_and_is_master(fleet):
    address, port, _ = create(fleet, "r1", engine="redis")
    client = redis.Redis(address, port, socket_timeout=2)
    client.set("a", "1")
    for _ in range(8):
        assert client.get("a") == b"1"
    assert client.get("nope") is None
    wait_for(lambda: total(fleet, "r1", "CacheHits") == 8 and total(fleet, "r1", "CacheMisses") == 1, 15,
             interval=0.3, what="8 CacheHits and 1 CacheMiss")
    values = wait_for(lambda: (v := latest(fleet, "r1")) and "CPUUtilization" in v and v, 10,
                      what="a second sample of r1")
    assert values["IsMaster"] == 1 and values["CurrItems"] == 1 and values["BytesUsedForCache"] > 0
    rates = stats(fleet, "r1", "CacheHitRate")
    assert rates and all(0 <= p.minimum <= p.maximum <= 100 for p in rates) and rates[0].maximum > 0
    client.close()


def test_replication_group_reports_is_master_replication_bytes_and_lag(fleet):
    fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="rg", replication_group_description="metrics", num_cache_clusters=2,
        cache_node_type="cache.t1.micro"), timeout=5)
    group = wait_for(lambda: (g := fleet.stub.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest(
        replication_group_id="rg"), timeout=2).replication_groups[0]).status == "available" and g, 30,
        what="rg available")
    roles = {m.cache_cluster_id: m.current_role for m in group.node_groups[0].node_group_members}
    primary = next(c for c, role in roles.items() if role == "primary")
    replica = next(c for c, role in roles.items() if role == "replica")
    endpoint = group.node_groups[0].primary_endpoint
    (address,) = fleet.resolve(endpoint.address)
    client = redis.Redis(address, endpoint.port, socket_timeout=2)
    for i in range(50):
        client.set(f"k{i}", "x" * 100)
    wait_for(lambda: total(fleet, primary, "ReplicationBytes") > 50 * 100, 15, interval=0.3,
             what="the primary's ReplicationBytes")
    values = wait_for(lambda: (v := latest(fleet, replica)) and "ReplicationLag" in v and v, 10,
                      what="the replica's ReplicationLag")
    assert values["IsMaster"] == 0 and 0 <= values["ReplicationLag"] <= 2
    assert latest(fleet, primary)["IsMaster"] == 1
    wait_for(lambda: latest(fleet, replica).get("CurrItems") == 50, 10, what="the replica's 50 keys")
    client.close()


def scrape(fleet: Fleet) -> dict[tuple[str, str], tuple[str, float]]:
    """/metrics parsed: (sample name, labels as written) -> (family type, value)."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(fleet.metrics_url, timeout=2) as reply:
        text = reply.read().decode()
    return {(s.name, ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))): (family.type, s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_prometheus_endpoint_exposes_cloudwatch_names_with_labels_and_counters_as_totals(fleet):
    address, port, host_id = create(fleet, "p1")
    client = Memcache((address, port), timeout=2)
    client.set("k", b"v")
    for _ in range(10):
        assert client.get("k") == b"v"
    labels = f'cache_cluster_id="p1",cache_node_id="0001",host="{host_id}"'
    wait_for(lambda: scrape(fleet).get(("GetHits_total", labels)) == ("counter", 10), 15, interval=0.3,
             what="p1's 10 GetHits in /metrics")
    text = wait_for(lambda: (t := scrape(fleet)) and ("CPUUtilization", labels) in t and t, 15, interval=0.3,
                    what="p1's CPUUtilization in /metrics")
    for name in ("CurrConnections", "CurrItems", "BytesUsedForCache", "FreeableMemory", "CPUUtilization"):
        assert text[(name, labels)][0] == "gauge", name
    for name in ("NetworkBytesIn", "Evictions", "CmdGet", "CmdSet"):
        assert text[(f"{name}_total", labels)][0] == "counter", name
        assert (name, labels) not in text, f"{name} is exported as a gauge as well"
    assert text[("CmdSet_total", labels)][1] == 1
    # totals are cumulative: a later scrape holds every get so far, whatever the scrape interval
    for _ in range(5):
        assert client.get("k") == b"v"
    wait_for(lambda: scrape(fleet).get(("GetHits_total", labels)) == ("counter", 15), 15, interval=0.3,
             what="p1's 15 GetHits in /metrics")
    assert scrape(fleet)[("CmdGet_total", labels)][1] == 15
    client.close()
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    health = health_pb2_grpc.HealthStub(fleet.channel())
    for service in ("cachefleet.v1.CacheWatch", "cachefleet.v1.HostMetrics"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(fleet.metrics_url.replace("/metrics", "/nope"), timeout=2)
    assert caught.value.code == 404


def test_bad_alarm_input_is_refused_and_changes_nothing(fleet):
    good = dict(alarm_name="steady", metric_name="CurrConnections", cache_cluster_id="m1", statistic="Average",
                period=60, evaluation_periods=2, threshold=1000, comparison_operator="GreaterThanThreshold")
    fleet.watch.PutMetricAlarm(wpb.PutMetricAlarmRequest(**good), timeout=2)
    before = fleet.watch.DescribeAlarms(wpb.DescribeAlarmsRequest(alarm_names=["steady"]), timeout=2)
    for bad in (dict(period=90), dict(statistic="p99"), dict(metric_name="Nope"),
                dict(comparison_operator="Bigger"), dict(evaluation_periods=0)):
        with pytest.raises(grpc.RpcError) as caught:
            fleet.watch.PutMetricAlarm(wpb.PutMetricAlarmRequest(**{**good, **bad}), timeout=2)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("InvalidParameterValue: ")
    assert fleet.watch.DescribeAlarms(wpb.DescribeAlarmsRequest(alarm_names=["steady"]), timeout=2) == before
    with pytest.raises(grpc.RpcError) as caught:      # one unknown name: nothing is deleted
        fleet.watch.DeleteAlarms(wpb.DeleteAlarmsRequest(alarm_names=["steady", "no-such-alarm"]), timeout=2)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert fleet.watch.DescribeAlarms(wpb.DescribeAlarmsRequest(alarm_names=["steady"]), timeout=2) == before
    with pytest.raises(grpc.RpcError) as caught:
        stats(fleet, "m1", "GetHits", period=45)
    assert caught.value.details().startswith("InvalidParameterValue: Period 45")


def test_cli_alarm_and_statistics_verbs(fleet, capsys):
    base = ["--endpoint", fleet.endpoint]
    assert cli.main(["put-metric-alarm", *base, "--alarm-name", "cli-alarm", "--metric-name", "Evictions",
                     "--cache-cluster-id", "m1", "--statistic", "Sum", "--period", "60",
                     "--evaluation-periods", "1", "--threshold", "5",
                     "--comparison-operator", "GreaterThanThreshold"]) == 0
    capsys.readouterr()
    assert cli.main(["describe-alarms", *base, "--alarm-names", "cli-alarm"]) == 0
    (alarm,) = json.loads(capsys.readouterr().out)["MetricAlarms"]
    assert alarm["AlarmName"] == "cli-alarm" and alarm["StateValue"] in ("INSUFFICIENT_DATA", "OK")
    t = now(fleet)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t - 3600))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + 3600))
    assert cli.main(["get-metric-statistics", *base, "--cache-cluster-id", "m1", "--cache-node-id", "0001",
                     "--metric-name", "GetHits", "--period", "3600", "--statistics", "Sum", "SampleCount",
                     "--start-time", start, "--end-time", end]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Label"] == "GetHits" and sum(p["Sum"] for p in out["Datapoints"]) == 25
    assert cli.main(["delete-alarms", *base, "--alarm-names", "cli-alarm"]) == 0
    assert cli.main(["delete-alarms", *base, "--alarm-names", "cli-alarm"]) == 254
    assert "ResourceNotFound" in capsys.readouterr().err


def test_top_once_shows_every_node_with_its_figures(fleet, capsys):
    assert cli.main(["top", "--once", "--endpoint", fleet.endpoint]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("CLUSTER"))
    assert all(word in header for word in ("CPU%", "MEM USED", "CONNS", "HIT%", "EVICTIONS", "ROLE"))
    rows = {tuple(line.split()[:2]): line for line in lines if line.split()[:1] in (["m1"], ["r1"], ["small"])}
    assert {("m1", "0001"), ("r1", "0001"), ("small", "0001")} <= set(rows)
    assert "available" in rows[("m1", "0001")] and "MiB" in rows[("small", "0001")]
    assert rows[("r1", "0001")].rstrip().endswith("primary")


def alarm_state(fleet: Fleet, name: str) -> str:
    (alarm,) = fleet.watch.DescribeAlarms(wpb.DescribeAlarmsRequest(alarm_names=[name]), timeout=2).metric_alarms
    return alarm.state_value


def test_alarm_goes_from_insufficient_data_to_ok_to_alarm_with_events_and_survives_a_restart(fleet):
    address, port, _ = create(fleet, "a1")
    client = Memcache((address, port), timeout=2)
    client.set("k", b"v")
    minute = int(now(fleet) // 60) + 1
    fleet.set_clock(minute * 60 + 1)                  # a fresh minute M starts now
    fleet.watch.PutMetricAlarm(wpb.PutMetricAlarmRequest(
        alarm_name="a1-hits", metric_name="GetHits", cache_cluster_id="a1", cache_node_id="0001",
        statistic="Sum", period=60, evaluation_periods=1, threshold=20,
        comparison_operator="GreaterThanThreshold"), timeout=2)
    fleet.watch.PutMetricAlarm(wpb.PutMetricAlarmRequest(
        alarm_name="nodata", metric_name="ReplicationLag", cache_cluster_id="a1",
        statistic="Maximum", period=60, evaluation_periods=1, threshold=1,
        comparison_operator="GreaterThanOrEqualToThreshold"), timeout=2)
    assert alarm_state(fleet, "a1-hits") == "INSUFFICIENT_DATA"
    # minute M gets samples without gets; once it is over, the alarm has data under the threshold
    wait_for(lambda: stats(fleet, "a1", "GetHits", period=60, start=minute * 60, end=minute * 60 + 60), 10,
             interval=0.2, what="a sample in minute M")
    fleet.set_clock((minute + 1) * 60 + 1)
    wait_for(lambda: alarm_state(fleet, "a1-hits") == "OK", 10, interval=0.2, what="a1-hits OK")
    # 30 gets in minute M+1 cross the threshold of 20 once that minute is over
    for _ in range(30):
        client.get("k")
    wait_for(lambda: total(fleet, "a1", "GetHits", period=60, start=(minute + 1) * 60,
                           end=(minute + 2) * 60) == 30, 10, interval=0.2, what="30 hits in minute M+1")
    fleet.set_clock((minute + 2) * 60 + 1)
    wait_for(lambda: alarm_state(fleet, "a1-hits") == "ALARM", 10, interval=0.2, what="a1-hits ALARM")
    events = fleet.events("a1")
    assert any(e.startswith("Alarm a1-hits changed from INSUFFICIENT_DATA to OK: ") for e in events), events
    (fired,) = [e for e in events if e.startswith("Alarm a1-hits changed from OK to ALARM: ")]
    assert "Sum of GetHits [30] > 20" in fired
    # a memcached node has no replication lag: that alarm never has data
    assert alarm_state(fleet, "nodata") == "INSUFFICIENT_DATA"
    assert not any("nodata" in e for e in events)
    # alarms are configuration: a restarted coordinator still has them, in the state they had
    fleet.kill_coordinator()
    fleet.start_coordinator()
    assert alarm_state(fleet, "a1-hits") == "ALARM"
    client.close()


def test_an_alarm_that_fires_reaches_the_clusters_webhook(fleet):
    """Issue 6's end to end: a threshold alarm on a cluster with a notification target ends as
    a JSON POST received by an HTTP server."""
    from tests.helpers.webhook import Webhook
    hook = Webhook()
    try:
        fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id="hooked", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1,
            notification_topic_arn=hook.url), timeout=5)
        fleet.wait_status("hooked", "available", 20)
        minute = int(now(fleet) // 60) + 1
        fleet.set_clock(minute * 60 + 1)
        fleet.watch.PutMetricAlarm(wpb.PutMetricAlarmRequest(
            alarm_name="hooked-conns", metric_name="CurrConnections", cache_cluster_id="hooked",
            cache_node_id="0001", statistic="Maximum", period=60, evaluation_periods=1, threshold=0,
            comparison_operator="GreaterThanThreshold"), timeout=2)   # the sampler's own connection counts
        wait_for(lambda: stats(fleet, "hooked", "CurrConnections", period=60, start=minute * 60,
                               end=minute * 60 + 60), 10, interval=0.2, what="a sample in the minute")
        fleet.set_clock((minute + 1) * 60 + 1)
        wait_for(lambda: alarm_state(fleet, "hooked-conns") == "ALARM", 10, interval=0.2, what="ALARM")
        fired = wait_for(lambda: [m for m in hook.messages("hooked")
                                  if m.startswith("Alarm hooked-conns changed from INSUFFICIENT_DATA to ALARM")],
                         15, interval=0.1, what="the alarm's POST")
        assert "Maximum of CurrConnections" in fired[0]
        body = next(b for b in hook.delivered() if b["Message"] == fired[0])
        assert body["SourceType"] == "cache-cluster" and body["EventId"]
    finally:
        hook.close()


def test_a_deleted_cluster_leaves_describe_node_metrics_and_prometheus(fleet):
    create(fleet, "doomed")
    wait_for(lambda: latest(fleet, "doomed"), 15, interval=0.3, what="doomed's first sample")
    wait_for(lambda: any('cache_cluster_id="doomed"' in labels for _, labels in scrape(fleet)), 15,
             interval=0.3, what="doomed in /metrics")
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="doomed"), timeout=5)
    fleet.wait_gone("doomed")
    assert latest(fleet, "doomed") == {}
    assert not any('cache_cluster_id="doomed"' in labels for _, labels in scrape(fleet))
