import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Dimension(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Datapoint(_message.Message):
    __slots__ = ("timestamp", "sample_count", "average", "sum", "minimum", "maximum", "unit")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    sample_count: float
    average: float
    sum: float
    minimum: float
    maximum: float
    unit: str
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sample_count: _Optional[float] = ..., average: _Optional[float] = ..., sum: _Optional[float] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., unit: _Optional[str] = ...) -> None: ...

class GetMetricStatisticsRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_id", "metric_name", "period", "start_time", "end_time", "statistics")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_id: str
    metric_name: str
    period: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    statistics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., metric_name: _Optional[str] = ..., period: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., statistics: _Optional[_Iterable[str]] = ...) -> None: ...

class GetMetricStatisticsResponse(_message.Message):
    __slots__ = ("label", "datapoints")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DATAPOINTS_FIELD_NUMBER: _ClassVar[int]
    label: str
    datapoints: _containers.RepeatedCompositeFieldContainer[Datapoint]
    def __init__(self, label: _Optional[str] = ..., datapoints: _Optional[_Iterable[_Union[Datapoint, _Mapping]]] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("metric_name", "dimensions")
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    metric_name: str
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    def __init__(self, metric_name: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ...) -> None: ...

class ListMetricsRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_id", "metric_name")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_id: str
    metric_name: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., metric_name: _Optional[str] = ...) -> None: ...

class ListMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    def __init__(self, metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ...) -> None: ...

class MetricAlarm(_message.Message):
    __slots__ = ("alarm_name", "alarm_description", "metric_name", "cache_cluster_id", "cache_node_id", "statistic", "period", "evaluation_periods", "threshold", "comparison_operator", "state_value", "state_reason", "state_updated_timestamp", "alarm_configuration_updated_timestamp", "dimensions")
    ALARM_NAME_FIELD_NUMBER: _ClassVar[int]
    ALARM_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_PERIODS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_OPERATOR_FIELD_NUMBER: _ClassVar[int]
    STATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ALARM_CONFIGURATION_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    alarm_name: str
    alarm_description: str
    metric_name: str
    cache_cluster_id: str
    cache_node_id: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    state_value: str
    state_reason: str
    state_updated_timestamp: _timestamp_pb2.Timestamp
    alarm_configuration_updated_timestamp: _timestamp_pb2.Timestamp
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    def __init__(self, alarm_name: _Optional[str] = ..., alarm_description: _Optional[str] = ..., metric_name: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., statistic: _Optional[str] = ..., period: _Optional[int] = ..., evaluation_periods: _Optional[int] = ..., threshold: _Optional[float] = ..., comparison_operator: _Optional[str] = ..., state_value: _Optional[str] = ..., state_reason: _Optional[str] = ..., state_updated_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., alarm_configuration_updated_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ...) -> None: ...

class PutMetricAlarmRequest(_message.Message):
    __slots__ = ("alarm_name", "alarm_description", "metric_name", "cache_cluster_id", "cache_node_id", "statistic", "period", "evaluation_periods", "threshold", "comparison_operator")
    ALARM_NAME_FIELD_NUMBER: _ClassVar[int]
    ALARM_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_PERIODS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_OPERATOR_FIELD_NUMBER: _ClassVar[int]
    alarm_name: str
    alarm_description: str
    metric_name: str
    cache_cluster_id: str
    cache_node_id: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    def __init__(self, alarm_name: _Optional[str] = ..., alarm_description: _Optional[str] = ..., metric_name: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., statistic: _Optional[str] = ..., period: _Optional[int] = ..., evaluation_periods: _Optional[int] = ..., threshold: _Optional[float] = ..., comparison_operator: _Optional[str] = ...) -> None: ...

class PutMetricAlarmResponse(_message.Message):
    __slots__ = ("metric_alarm",)
    METRIC_ALARM_FIELD_NUMBER: _ClassVar[int]
    metric_alarm: MetricAlarm
    def __init__(self, metric_alarm: _Optional[_Union[MetricAlarm, _Mapping]] = ...) -> None: ...

class DescribeAlarmsRequest(_message.Message):
    __slots__ = ("alarm_names", "alarm_name_prefix", "state_value", "cache_cluster_id")
    ALARM_NAMES_FIELD_NUMBER: _ClassVar[int]
    ALARM_NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    STATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    alarm_names: _containers.RepeatedScalarFieldContainer[str]
    alarm_name_prefix: str
    state_value: str
    cache_cluster_id: str
    def __init__(self, alarm_names: _Optional[_Iterable[str]] = ..., alarm_name_prefix: _Optional[str] = ..., state_value: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ...) -> None: ...

class DescribeAlarmsResponse(_message.Message):
    __slots__ = ("metric_alarms",)
    METRIC_ALARMS_FIELD_NUMBER: _ClassVar[int]
    metric_alarms: _containers.RepeatedCompositeFieldContainer[MetricAlarm]
    def __init__(self, metric_alarms: _Optional[_Iterable[_Union[MetricAlarm, _Mapping]]] = ...) -> None: ...

class DeleteAlarmsRequest(_message.Message):
    __slots__ = ("alarm_names",)
    ALARM_NAMES_FIELD_NUMBER: _ClassVar[int]
    alarm_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, alarm_names: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteAlarmsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeMetrics(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_id", "host_id", "timestamp", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_id: str
    host_id: str
    timestamp: _timestamp_pb2.Timestamp
    values: _containers.ScalarMap[str, float]
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., host_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class DescribeNodeMetricsRequest(_message.Message):
    __slots__ = ("cache_cluster_id",)
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    def __init__(self, cache_cluster_id: _Optional[str] = ...) -> None: ...

class DescribeNodeMetricsResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeMetrics]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeMetrics, _Mapping]]] = ...) -> None: ...
