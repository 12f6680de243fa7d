"""CacheWatch (metrics and alarms, CloudWatch's part of ElastiCache) and the agents' metric sink.

Thin servicers: the rules live in coordinator/metrics (store.py folds minutes into
periods, alarms.py validates and evaluates). A refused request raises ApiError
before anything is written.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf.message import DecodeError

from cachefleet.v1 import cache_watch_pb2 as pb
from cachefleet.v1 import cache_watch_pb2_grpc as pb_grpc
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from cachefleet.common.tls.authz import CALLER

from coordinator.api.convert import timestamp
from coordinator.api.access import check_host_caller
from coordinator.api.errors import rpc_errors
from coordinator.domain import validation
from coordinator.domain.errors import ApiError, combination, invalid
from coordinator.metrics.alarms import Alarm, AlarmBook, AlarmState
from coordinator.metrics.names import METRICS, STATISTICS, UNITS
from coordinator.metrics.store import MetricStore

MAX_DATAPOINTS = 1440   # CloudWatch's limit on one GetMetricStatistics answer


def _seconds(ts) -> float:
    return ts.ToNanoseconds() / 1e9


def _dimensions(cluster_id: str, node_id: str) -> list[pb.Dimension]:
    dims = [pb.Dimension(name="CacheClusterId", value=cluster_id)]
    if node_id:
        dims.append(pb.Dimension(name="CacheNodeId", value=node_id))
    return dims


def alarm_message(alarm: Alarm) -> pb.MetricAlarm:
    return pb.MetricAlarm(
        alarm_name=alarm.alarm_name, alarm_description=alarm.alarm_description,
        metric_name=alarm.metric_name, cache_cluster_id=alarm.cache_cluster_id,
        cache_node_id=alarm.cache_node_id, statistic=alarm.statistic, period=alarm.period,
        evaluation_periods=alarm.evaluation_periods, threshold=alarm.threshold,
        comparison_operator=alarm.comparison_operator, state_value=alarm.state_value,
        state_reason=alarm.state_reason, state_updated_timestamp=timestamp(alarm.state_updated),
        alarm_configuration_updated_timestamp=timestamp(alarm.configuration_updated),
        dimensions=_dimensions(alarm.cache_cluster_id, alarm.cache_node_id))


class CacheWatchService(pb_grpc.CacheWatchServicer):
    def __init__(self, metrics: MetricStore, alarms: AlarmBook, clock: Callable[[], float]) -> None:
        self.metrics = metrics
        self.alarms = alarms
        self.clock = clock

    @rpc_errors
    async def GetMetricStatistics(self, request, context):
        if not request.cache_cluster_id:
            raise ApiError("MissingParameter", "CacheClusterId is required.")
        if request.metric_name not in METRICS:
            raise invalid(f"MetricName {request.metric_name!r} is not a cachefleet metric; "
                          f"valid names: {', '.join(sorted(METRICS))}.")
        if request.period <= 0 or request.period % 60:
            raise invalid(f"Period {request.period} must be a positive multiple of 60 seconds.")
        if not request.statistics:
            raise ApiError("MissingParameter", "Statistics must name at least one of "
                           f"{', '.join(STATISTICS)}.")
        bad = [s for s in request.statistics if s not in STATISTICS]
        if bad:
            raise invalid(f"Statistics {', '.join(bad)} not one of {', '.join(STATISTICS)}.")
        if not request.HasField("start_time") or not request.HasField("end_time"):
            raise ApiError("MissingParameter", "StartTime and EndTime are required.")
        start, end = _seconds(request.start_time), _seconds(request.end_time)
        if start >= end:
            raise invalid("StartTime must be before EndTime.")
        if (end - start) / request.period > MAX_DATAPOINTS:
            raise combination(f"You have requested up to {math.ceil((end - start) / request.period)} "
                              f"datapoints, which exceeds the limit of {MAX_DATAPOINTS}.")
        cluster_id = request.cache_cluster_id.lower()
        points = self.metrics.statistics(cluster_id, request.cache_node_id, request.metric_name,
                                         request.period, start, end)
        wanted = set(request.statistics)
        datapoints = []
        for at, stats in points:
            fields = {"Average": "average", "Minimum": "minimum", "Maximum": "maximum",
                      "Sum": "sum", "SampleCount": "sample_count"}
            datapoints.append(pb.Datapoint(timestamp=timestamp(at), unit=UNITS[request.metric_name],
                                           **{fields[s]: stats.statistic(s) for s in wanted}))
        return pb.GetMetricStatisticsResponse(label=request.metric_name, datapoints=datapoints)

    @rpc_errors
    async def ListMetrics(self, request, context):
        cluster_id = request.cache_cluster_id.lower()
        metrics = [pb.Metric(metric_name=key.metric_name,
                             dimensions=_dimensions(key.cache_cluster_id, key.cache_node_id))
                   for key in self.metrics.keys()
                   if (not cluster_id or key.cache_cluster_id == cluster_id)
                   and (not request.cache_node_id or key.cache_node_id == request.cache_node_id)
                   and (not request.metric_name or key.metric_name == request.metric_name)]
        return pb.ListMetricsResponse(metrics=metrics)

    @rpc_errors
    async def PutMetricAlarm(self, request, context):
        alarm = Alarm(alarm_name=request.alarm_name, alarm_description=request.alarm_description,
                      metric_name=request.metric_name, cache_cluster_id=request.cache_cluster_id.lower(),
                      cache_node_id=request.cache_node_id, statistic=request.statistic,
                      period=request.period, evaluation_periods=request.evaluation_periods,
                      threshold=request.threshold, comparison_operator=request.comparison_operator)
        return pb.PutMetricAlarmResponse(metric_alarm=alarm_message(await self.alarms.put(alarm)))

    @rpc_errors
    async def DescribeAlarms(self, request, context):
        if request.state_value and request.state_value not in {s.value for s in AlarmState}:
            raise invalid(f"StateValue {request.state_value!r} must be one of "
                          f"{', '.join(s.value for s in AlarmState)}.")
        names = set(request.alarm_names)
        cluster_id = request.cache_cluster_id.lower()
        alarms = [a for a in await self.alarms.list()
                  if (not names or a.alarm_name in names)
                  and a.alarm_name.startswith(request.alarm_name_prefix)
                  and (not request.state_value or a.state_value == request.state_value)
                  and (not cluster_id or a.cache_cluster_id == cluster_id)]
        return pb.DescribeAlarmsResponse(metric_alarms=[alarm_message(a) for a in alarms])

    @rpc_errors
    async def DeleteAlarms(self, request, context):
        if not request.alarm_names:
            raise ApiError("MissingParameter", "AlarmNames must name at least one alarm.")
        known = {a.alarm_name for a in await self.alarms.list()}
        missing = [n for n in request.alarm_names if n not in known]
        if missing:
            raise ApiError("ResourceNotFound", f"Alarm(s) not found: {', '.join(missing)}.")
        await self.alarms.delete(list(request.alarm_names))
        return pb.DeleteAlarmsResponse()

    @rpc_errors
    async def DescribeNodeMetrics(self, request, context):
        cluster_id = request.cache_cluster_id.lower()
        nodes = [pb.NodeMetrics(cache_cluster_id=c, cache_node_id=n, host_id=host, timestamp=timestamp(at),
                                values=values)
                 for (c, n), (host, at, values) in sorted(self.metrics.latest.items())
                 if not cluster_id or c == cluster_id]
        return pb.DescribeNodeMetricsResponse(nodes=nodes)


class HostMetricsService(agent_grpc.HostMetricsServicer):
    """Agents' samples land in the store, stamped with the coordinator's clock on arrival.

    The same event loop answers heartbeats, and a late heartbeat answer is a lost lease, so
    a report never holds the loop for long:
    - it arrives as bytes and is parsed here, once the caller is admitted: one report at a
      time per caller's certificate (an agent sends one every few seconds and waits for the
      answer; in plaintext mode, per connection), so the calls a flood sends beside it, on
      as many connections as it likes, are refused with Throttling before their up to 4 MiB
      are parsed (parsing holds the loop, about 14 ms for 4 MiB);
    - it is checked whole (at most MAX_SAMPLES samples of at most MAX_VALUES values: else
      refused, nothing stored), and one report per host is stored at a time;
    - it is stored CHUNK samples at a time with the loop free in between, STORING reports of
      all hosts at once at the most; a sample whose cluster or node id is not one (empty,
      too long, a trailing newline) is left out."""

    MAX_SAMPLES = 1000     # one per node of a host
    MAX_VALUES = 64        # a sample's metrics (agents send about 20)
    CHUNK = 20             # samples stored between two turns of the event loop (about 2 ms of new series)
    STORING = 2            # reports stored at once, all hosts together

    def __init__(self, metrics: MetricStore) -> None:
        self.metrics = metrics
        self._callers: set[str] = set()
        self._hosts: set[str] = set()
        self._storing = asyncio.Semaphore(self.STORING)

    def add_to_server(self, server) -> None:
        """Serve HostMetrics with ReportMetrics taking its request as bytes (parsed once admitted)."""
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("cachefleet.v1.HostMetrics", {
            "ReportMetrics": grpc.unary_unary_rpc_method_handler(
                self.ReportMetrics, request_deserializer=None,
                response_serializer=agent_pb.ReportMetricsResponse.SerializeToString)}),))

    @rpc_errors
    async def ReportMetrics(self, request: bytes | agent_pb.ReportMetricsRequest, context):
        async with _one_at_a_time(self._callers, _admission_key(context), "This caller already has a metric "
                                  "report being stored; send the next one when it is answered."):
            report = _parsed(request)
            if not report.host_id:
                raise invalid("ReportMetrics must carry host_id.")
            host_id = validation.host_id(report.host_id)
            check_host_caller(host_id)
            self._check(report)
            async with _one_at_a_time(self._hosts, host_id, f"Host {host_id} already has a metric report "
                                      "being stored; send the next one when it is answered."), self._storing:
                for i, sample in enumerate(report.samples):
                    if i and not i % self.CHUNK:
                        await asyncio.sleep(0)
                    if _names_a_node(sample):
                        values = {k: v for k, v in sample.values.items() if k in METRICS}
                        self.metrics.put(sample.cache_cluster_id, sample.cache_node_id, host_id, values)
        return agent_pb.ReportMetricsResponse()

    def _check(self, request: agent_pb.ReportMetricsRequest) -> None:
        if len(request.samples) > self.MAX_SAMPLES:
            raise invalid(f"A metric report carries at most {self.MAX_SAMPLES} samples, "
                          f"got {len(request.samples)}.")
        most = max((len(sample.values) for sample in request.samples), default=0)
        if most > self.MAX_VALUES:
            raise invalid(f"A sample carries at most {self.MAX_VALUES} values, got {most}.")


def _admission_key(context) -> str:
    """Whom one-report-at-a-time counts: the caller's certificate identity, so a host that opens
    many connections still has one report in flight; the connection only in plaintext mode."""
    caller = CALLER.get()
    return str(caller) if caller is not None else f"peer {context.peer() or ''}"


def _parsed(request: bytes | agent_pb.ReportMetricsRequest) -> agent_pb.ReportMetricsRequest:
    if isinstance(request, agent_pb.ReportMetricsRequest):
        return request
    try:
        return agent_pb.ReportMetricsRequest.FromString(request)
    except DecodeError:
        raise invalid("The metric report is not a ReportMetricsRequest.") from None


@contextlib.asynccontextmanager
async def _one_at_a_time(busy: set[str], key: str, refusal: str) -> AsyncIterator[None]:
    """key holds its place in busy for the block; a key already there is refused with Throttling."""
    if key in busy:
        raise ApiError("Throttling", refusal)
    busy.add(key)
    try:
        yield
    finally:
        busy.discard(key)


def _names_a_node(sample: agent_pb.NodeMetricSample) -> bool:
    """Whether the sample's cluster and node ids are ids at all (series are keyed by them)."""
    try:
        validation.cluster_id(sample.cache_cluster_id)
        validation.node_id(sample.cache_node_id)
    except ApiError:
        return False
    return True
