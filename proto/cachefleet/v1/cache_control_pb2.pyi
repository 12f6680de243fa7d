import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheEngineVersion(_message.Message):
    __slots__ = ("engine", "engine_version", "cache_parameter_group_family", "cache_engine_description", "cache_engine_version_description")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENGINE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENGINE_VERSION_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    engine: str
    engine_version: str
    cache_parameter_group_family: str
    cache_engine_description: str
    cache_engine_version_description: str
    def __init__(self, engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., cache_parameter_group_family: _Optional[str] = ..., cache_engine_description: _Optional[str] = ..., cache_engine_version_description: _Optional[str] = ...) -> None: ...

class DescribeCacheEngineVersionsRequest(_message.Message):
    __slots__ = ("engine", "engine_version", "cache_parameter_group_family", "default_only", "max_records", "marker")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ONLY_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    engine: str
    engine_version: str
    cache_parameter_group_family: str
    default_only: bool
    max_records: int
    marker: str
    def __init__(self, engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., cache_parameter_group_family: _Optional[str] = ..., default_only: _Optional[bool] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeCacheEngineVersionsResponse(_message.Message):
    __slots__ = ("marker", "cache_engine_versions")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENGINE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    cache_engine_versions: _containers.RepeatedCompositeFieldContainer[CacheEngineVersion]
    def __init__(self, marker: _Optional[str] = ..., cache_engine_versions: _Optional[_Iterable[_Union[CacheEngineVersion, _Mapping]]] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("address", "port")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class CacheNode(_message.Message):
    __slots__ = ("cache_node_id", "cache_node_status", "cache_node_create_time", "endpoint", "customer_availability_zone", "host_id", "host_address")
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_STATUS_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    cache_node_id: str
    cache_node_status: str
    cache_node_create_time: _timestamp_pb2.Timestamp
    endpoint: Endpoint
    customer_availability_zone: str
    host_id: str
    host_address: str
    def __init__(self, cache_node_id: _Optional[str] = ..., cache_node_status: _Optional[str] = ..., cache_node_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., customer_availability_zone: _Optional[str] = ..., host_id: _Optional[str] = ..., host_address: _Optional[str] = ...) -> None: ...

class CacheCluster(_message.Message):
    __slots__ = ("cache_cluster_id", "configuration_endpoint", "cache_node_type", "engine", "engine_version", "cache_cluster_status", "num_cache_nodes", "preferred_availability_zone", "cache_cluster_create_time", "cache_nodes", "replication_group_id", "port", "preferred_maintenance_window", "pending_modified_values", "auto_minor_version_upgrade", "cache_parameter_group", "cache_security_groups", "notification_configuration", "snapshot_retention_limit", "snapshot_window", "transit_encryption_enabled", "transit_encryption_mode", "plaintext_port", "auth_token_enabled", "auth_token_last_modified_date", "at_rest_encryption_enabled")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_STATUS_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    PENDING_MODIFIED_VALUES_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_PORT_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_ENABLED_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_LAST_MODIFIED_DATE_FIELD_NUMBER: _ClassVar[int]
    AT_REST_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    configuration_endpoint: Endpoint
    cache_node_type: str
    engine: str
    engine_version: str
    cache_cluster_status: str
    num_cache_nodes: int
    preferred_availability_zone: str
    cache_cluster_create_time: _timestamp_pb2.Timestamp
    cache_nodes: _containers.RepeatedCompositeFieldContainer[CacheNode]
    replication_group_id: str
    port: int
    preferred_maintenance_window: str
    pending_modified_values: PendingModifiedValues
    auto_minor_version_upgrade: bool
    cache_parameter_group: CacheParameterGroupStatus
    cache_security_groups: _containers.RepeatedCompositeFieldContainer[CacheSecurityGroupMembership]
    notification_configuration: NotificationConfiguration
    snapshot_retention_limit: int
    snapshot_window: str
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    plaintext_port: int
    auth_token_enabled: bool
    auth_token_last_modified_date: _timestamp_pb2.Timestamp
    at_rest_encryption_enabled: bool
    def __init__(self, cache_cluster_id: _Optional[str] = ..., configuration_endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., cache_node_type: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., cache_cluster_status: _Optional[str] = ..., num_cache_nodes: _Optional[int] = ..., preferred_availability_zone: _Optional[str] = ..., cache_cluster_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cache_nodes: _Optional[_Iterable[_Union[CacheNode, _Mapping]]] = ..., replication_group_id: _Optional[str] = ..., port: _Optional[int] = ..., preferred_maintenance_window: _Optional[str] = ..., pending_modified_values: _Optional[_Union[PendingModifiedValues, _Mapping]] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., cache_parameter_group: _Optional[_Union[CacheParameterGroupStatus, _Mapping]] = ..., cache_security_groups: _Optional[_Iterable[_Union[CacheSecurityGroupMembership, _Mapping]]] = ..., notification_configuration: _Optional[_Union[NotificationConfiguration, _Mapping]] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ..., plaintext_port: _Optional[int] = ..., auth_token_enabled: _Optional[bool] = ..., auth_token_last_modified_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., at_rest_encryption_enabled: _Optional[bool] = ...) -> None: ...

class CacheParameterGroupStatus(_message.Message):
    __slots__ = ("cache_parameter_group_name", "parameter_apply_status", "cache_node_ids_to_reboot")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_APPLY_STATUS_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_IDS_TO_REBOOT_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    parameter_apply_status: str
    cache_node_ids_to_reboot: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., parameter_apply_status: _Optional[str] = ..., cache_node_ids_to_reboot: _Optional[_Iterable[str]] = ...) -> None: ...

class PendingModifiedValues(_message.Message):
    __slots__ = ("num_cache_nodes", "cache_node_ids_to_remove", "engine_version", "cache_node_type")
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_IDS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    num_cache_nodes: int
    cache_node_ids_to_remove: _containers.RepeatedScalarFieldContainer[str]
    engine_version: str
    cache_node_type: str
    def __init__(self, num_cache_nodes: _Optional[int] = ..., cache_node_ids_to_remove: _Optional[_Iterable[str]] = ..., engine_version: _Optional[str] = ..., cache_node_type: _Optional[str] = ...) -> None: ...

class CreateCacheClusterRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "engine", "engine_version", "cache_node_type", "num_cache_nodes", "port", "preferred_availability_zone", "preferred_availability_zones", "az_mode", "preferred_maintenance_window", "auto_minor_version_upgrade", "cache_parameter_group_name", "cache_security_group_names", "notification_topic_arn", "snapshot_arns", "snapshot_name", "snapshot_retention_limit", "snapshot_window", "transit_encryption_enabled", "transit_encryption_mode", "auth_token", "at_rest_encryption_enabled")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_AVAILABILITY_ZONES_FIELD_NUMBER: _ClassVar[int]
    AZ_MODE_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUP_NAMES_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_ARN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ARNS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AT_REST_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    engine: str
    engine_version: str
    cache_node_type: str
    num_cache_nodes: int
    port: int
    preferred_availability_zone: str
    preferred_availability_zones: _containers.RepeatedScalarFieldContainer[str]
    az_mode: str
    preferred_maintenance_window: str
    auto_minor_version_upgrade: bool
    cache_parameter_group_name: str
    cache_security_group_names: _containers.RepeatedScalarFieldContainer[str]
    notification_topic_arn: str
    snapshot_arns: _containers.RepeatedScalarFieldContainer[str]
    snapshot_name: str
    snapshot_retention_limit: int
    snapshot_window: str
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    auth_token: str
    at_rest_encryption_enabled: bool
    def __init__(self, cache_cluster_id: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., cache_node_type: _Optional[str] = ..., num_cache_nodes: _Optional[int] = ..., port: _Optional[int] = ..., preferred_availability_zone: _Optional[str] = ..., preferred_availability_zones: _Optional[_Iterable[str]] = ..., az_mode: _Optional[str] = ..., preferred_maintenance_window: _Optional[str] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., cache_parameter_group_name: _Optional[str] = ..., cache_security_group_names: _Optional[_Iterable[str]] = ..., notification_topic_arn: _Optional[str] = ..., snapshot_arns: _Optional[_Iterable[str]] = ..., snapshot_name: _Optional[str] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ..., auth_token: _Optional[str] = ..., at_rest_encryption_enabled: _Optional[bool] = ...) -> None: ...

class CreateCacheClusterResponse(_message.Message):
    __slots__ = ("cache_cluster",)
    CACHE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster: CacheCluster
    def __init__(self, cache_cluster: _Optional[_Union[CacheCluster, _Mapping]] = ...) -> None: ...

class DescribeCacheClustersRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "show_cache_node_info", "max_records", "marker")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SHOW_CACHE_NODE_INFO_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    show_cache_node_info: bool
    max_records: int
    marker: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., show_cache_node_info: _Optional[bool] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeCacheClustersResponse(_message.Message):
    __slots__ = ("marker", "cache_clusters")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    cache_clusters: _containers.RepeatedCompositeFieldContainer[CacheCluster]
    def __init__(self, marker: _Optional[str] = ..., cache_clusters: _Optional[_Iterable[_Union[CacheCluster, _Mapping]]] = ...) -> None: ...

class ModifyCacheClusterRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "num_cache_nodes", "cache_node_ids_to_remove", "apply_immediately", "new_availability_zones", "engine_version", "preferred_maintenance_window", "auto_minor_version_upgrade", "cache_node_type", "cache_parameter_group_name", "cache_security_group_names", "notification_topic_arn", "notification_topic_status", "snapshot_retention_limit", "snapshot_window", "auth_token", "auth_token_update_strategy", "transit_encryption_enabled", "transit_encryption_mode")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_IDS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    APPLY_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    NEW_AVAILABILITY_ZONES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUP_NAMES_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_ARN_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_STATUS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_UPDATE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    num_cache_nodes: int
    cache_node_ids_to_remove: _containers.RepeatedScalarFieldContainer[str]
    apply_immediately: bool
    new_availability_zones: _containers.RepeatedScalarFieldContainer[str]
    engine_version: str
    preferred_maintenance_window: str
    auto_minor_version_upgrade: bool
    cache_node_type: str
    cache_parameter_group_name: str
    cache_security_group_names: _containers.RepeatedScalarFieldContainer[str]
    notification_topic_arn: str
    notification_topic_status: str
    snapshot_retention_limit: int
    snapshot_window: str
    auth_token: str
    auth_token_update_strategy: str
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., num_cache_nodes: _Optional[int] = ..., cache_node_ids_to_remove: _Optional[_Iterable[str]] = ..., apply_immediately: _Optional[bool] = ..., new_availability_zones: _Optional[_Iterable[str]] = ..., engine_version: _Optional[str] = ..., preferred_maintenance_window: _Optional[str] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., cache_node_type: _Optional[str] = ..., cache_parameter_group_name: _Optional[str] = ..., cache_security_group_names: _Optional[_Iterable[str]] = ..., notification_topic_arn: _Optional[str] = ..., notification_topic_status: _Optional[str] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., auth_token: _Optional[str] = ..., auth_token_update_strategy: _Optional[str] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ...) -> None: ...

class ModifyCacheClusterResponse(_message.Message):
    __slots__ = ("cache_cluster",)
    CACHE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster: CacheCluster
    def __init__(self, cache_cluster: _Optional[_Union[CacheCluster, _Mapping]] = ...) -> None: ...

class RebootCacheClusterRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_ids_to_reboot")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_IDS_TO_REBOOT_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_ids_to_reboot: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_ids_to_reboot: _Optional[_Iterable[str]] = ...) -> None: ...

class RebootCacheClusterResponse(_message.Message):
    __slots__ = ("cache_cluster",)
    CACHE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster: CacheCluster
    def __init__(self, cache_cluster: _Optional[_Union[CacheCluster, _Mapping]] = ...) -> None: ...

class DeleteCacheClusterRequest(_message.Message):
    __slots__ = ("cache_cluster_id", "final_snapshot_identifier")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    FINAL_SNAPSHOT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    final_snapshot_identifier: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., final_snapshot_identifier: _Optional[str] = ...) -> None: ...

class DeleteCacheClusterResponse(_message.Message):
    __slots__ = ("cache_cluster",)
    CACHE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cache_cluster: CacheCluster
    def __init__(self, cache_cluster: _Optional[_Union[CacheCluster, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("source_identifier", "source_type", "message", "date", "event_id", "caller")
    SOURCE_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    source_identifier: str
    source_type: str
    message: str
    date: _timestamp_pb2.Timestamp
    event_id: str
    caller: str
    def __init__(self, source_identifier: _Optional[str] = ..., source_type: _Optional[str] = ..., message: _Optional[str] = ..., date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[str] = ..., caller: _Optional[str] = ...) -> None: ...

class DescribeEventsRequest(_message.Message):
    __slots__ = ("source_identifier", "source_type", "start_time", "end_time", "duration", "max_records", "marker", "caller")
    SOURCE_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    source_identifier: str
    source_type: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration: int
    max_records: int
    marker: str
    caller: str
    def __init__(self, source_identifier: _Optional[str] = ..., source_type: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[int] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ..., caller: _Optional[str] = ...) -> None: ...

class DescribeEventsResponse(_message.Message):
    __slots__ = ("marker", "events")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, marker: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class CacheNodeTypeInfo(_message.Message):
    __slots__ = ("cache_node_type", "memory_mb", "engines")
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    cache_node_type: str
    memory_mb: int
    engines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cache_node_type: _Optional[str] = ..., memory_mb: _Optional[int] = ..., engines: _Optional[_Iterable[str]] = ...) -> None: ...

class DescribeCacheNodeTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeCacheNodeTypesResponse(_message.Message):
    __slots__ = ("cache_node_types",)
    CACHE_NODE_TYPES_FIELD_NUMBER: _ClassVar[int]
    cache_node_types: _containers.RepeatedCompositeFieldContainer[CacheNodeTypeInfo]
    def __init__(self, cache_node_types: _Optional[_Iterable[_Union[CacheNodeTypeInfo, _Mapping]]] = ...) -> None: ...

class EngineInstall(_message.Message):
    __slots__ = ("engine", "version", "path", "tls")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    engine: str
    version: str
    path: str
    tls: bool
    def __init__(self, engine: _Optional[str] = ..., version: _Optional[str] = ..., path: _Optional[str] = ..., tls: _Optional[bool] = ...) -> None: ...

class StoreStatus(_message.Message):
    __slots__ = ("store_name", "location", "status", "message")
    STORE_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    store_name: str
    location: str
    status: str
    message: str
    def __init__(self, store_name: _Optional[str] = ..., location: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("host_id", "address", "agent_endpoint", "availability_zone", "memory_mb", "memory_allocated_mb", "status", "engines", "num_cache_nodes", "last_seen", "stores", "firewall_status", "firewall_message")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ALLOCATED_MB_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    FIREWALL_STATUS_FIELD_NUMBER: _ClassVar[int]
    FIREWALL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    address: str
    agent_endpoint: str
    availability_zone: str
    memory_mb: int
    memory_allocated_mb: int
    status: str
    engines: _containers.RepeatedCompositeFieldContainer[EngineInstall]
    num_cache_nodes: int
    last_seen: _timestamp_pb2.Timestamp
    stores: _containers.RepeatedCompositeFieldContainer[StoreStatus]
    firewall_status: str
    firewall_message: str
    def __init__(self, host_id: _Optional[str] = ..., address: _Optional[str] = ..., agent_endpoint: _Optional[str] = ..., availability_zone: _Optional[str] = ..., memory_mb: _Optional[int] = ..., memory_allocated_mb: _Optional[int] = ..., status: _Optional[str] = ..., engines: _Optional[_Iterable[_Union[EngineInstall, _Mapping]]] = ..., num_cache_nodes: _Optional[int] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stores: _Optional[_Iterable[_Union[StoreStatus, _Mapping]]] = ..., firewall_status: _Optional[str] = ..., firewall_message: _Optional[str] = ...) -> None: ...

class DescribeHostsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeHostsResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    def __init__(self, hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ...) -> None: ...

class Coordinator(_message.Message):
    __slots__ = ("name", "endpoint", "leader", "leader_since", "started")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_SINCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint: str
    leader: bool
    leader_since: _timestamp_pb2.Timestamp
    started: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., endpoint: _Optional[str] = ..., leader: _Optional[bool] = ..., leader_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DescribeCoordinatorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeCoordinatorsResponse(_message.Message):
    __slots__ = ("coordinators",)
    COORDINATORS_FIELD_NUMBER: _ClassVar[int]
    coordinators: _containers.RepeatedCompositeFieldContainer[Coordinator]
    def __init__(self, coordinators: _Optional[_Iterable[_Union[Coordinator, _Mapping]]] = ...) -> None: ...

class NodeGroupMember(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_id", "read_endpoint", "preferred_availability_zone", "current_role", "replication_link_status", "replication_lag_bytes", "replication_lag_seconds", "last_sync_time", "host_id", "cache_node_status")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    READ_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ROLE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_LINK_STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_LAG_BYTES_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_TIME_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_STATUS_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_id: str
    read_endpoint: Endpoint
    preferred_availability_zone: str
    current_role: str
    replication_link_status: str
    replication_lag_bytes: int
    replication_lag_seconds: float
    last_sync_time: _timestamp_pb2.Timestamp
    host_id: str
    cache_node_status: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., read_endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., preferred_availability_zone: _Optional[str] = ..., current_role: _Optional[str] = ..., replication_link_status: _Optional[str] = ..., replication_lag_bytes: _Optional[int] = ..., replication_lag_seconds: _Optional[float] = ..., last_sync_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., host_id: _Optional[str] = ..., cache_node_status: _Optional[str] = ...) -> None: ...

class NodeGroup(_message.Message):
    __slots__ = ("node_group_id", "status", "primary_endpoint", "reader_endpoint", "node_group_members")
    NODE_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    READER_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    NODE_GROUP_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    node_group_id: str
    status: str
    primary_endpoint: Endpoint
    reader_endpoint: Endpoint
    node_group_members: _containers.RepeatedCompositeFieldContainer[NodeGroupMember]
    def __init__(self, node_group_id: _Optional[str] = ..., status: _Optional[str] = ..., primary_endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., reader_endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., node_group_members: _Optional[_Iterable[_Union[NodeGroupMember, _Mapping]]] = ...) -> None: ...

class ReplicationGroup(_message.Message):
    __slots__ = ("replication_group_id", "description", "status", "member_clusters", "node_groups", "automatic_failover", "multi_az", "cache_node_type", "replication_group_create_time", "engine", "engine_version", "port", "preferred_maintenance_window", "pending_modified_values", "auto_minor_version_upgrade", "notification_configuration", "snapshot_retention_limit", "snapshot_window", "snapshotting_cluster_id", "transit_encryption_enabled", "transit_encryption_mode", "auth_token_enabled", "auth_token_last_modified_date", "user_group_ids", "plaintext_port", "at_rest_encryption_enabled")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    NODE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FAILOVER_FIELD_NUMBER: _ClassVar[int]
    MULTI_AZ_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    PENDING_MODIFIED_VALUES_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTTING_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_ENABLED_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_LAST_MODIFIED_DATE_FIELD_NUMBER: _ClassVar[int]
    USER_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_PORT_FIELD_NUMBER: _ClassVar[int]
    AT_REST_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    description: str
    status: str
    member_clusters: _containers.RepeatedScalarFieldContainer[str]
    node_groups: _containers.RepeatedCompositeFieldContainer[NodeGroup]
    automatic_failover: str
    multi_az: str
    cache_node_type: str
    replication_group_create_time: _timestamp_pb2.Timestamp
    engine: str
    engine_version: str
    port: int
    preferred_maintenance_window: str
    pending_modified_values: PendingModifiedValues
    auto_minor_version_upgrade: bool
    notification_configuration: NotificationConfiguration
    snapshot_retention_limit: int
    snapshot_window: str
    snapshotting_cluster_id: str
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    auth_token_enabled: bool
    auth_token_last_modified_date: _timestamp_pb2.Timestamp
    user_group_ids: _containers.RepeatedScalarFieldContainer[str]
    plaintext_port: int
    at_rest_encryption_enabled: bool
    def __init__(self, replication_group_id: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[str] = ..., member_clusters: _Optional[_Iterable[str]] = ..., node_groups: _Optional[_Iterable[_Union[NodeGroup, _Mapping]]] = ..., automatic_failover: _Optional[str] = ..., multi_az: _Optional[str] = ..., cache_node_type: _Optional[str] = ..., replication_group_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., port: _Optional[int] = ..., preferred_maintenance_window: _Optional[str] = ..., pending_modified_values: _Optional[_Union[PendingModifiedValues, _Mapping]] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., notification_configuration: _Optional[_Union[NotificationConfiguration, _Mapping]] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., snapshotting_cluster_id: _Optional[str] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ..., auth_token_enabled: _Optional[bool] = ..., auth_token_last_modified_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_group_ids: _Optional[_Iterable[str]] = ..., plaintext_port: _Optional[int] = ..., at_rest_encryption_enabled: _Optional[bool] = ...) -> None: ...

class CreateReplicationGroupRequest(_message.Message):
    __slots__ = ("replication_group_id", "replication_group_description", "num_cache_clusters", "primary_cluster_id", "automatic_failover_enabled", "multi_az_enabled", "cache_node_type", "engine", "engine_version", "port", "preferred_cache_cluster_a_zs", "preferred_maintenance_window", "auto_minor_version_upgrade", "cache_parameter_group_name", "cache_security_group_names", "notification_topic_arn", "snapshot_arns", "snapshot_name", "snapshot_retention_limit", "snapshot_window", "transit_encryption_enabled", "transit_encryption_mode", "auth_token", "user_group_ids", "at_rest_encryption_enabled")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FAILOVER_ENABLED_FIELD_NUMBER: _ClassVar[int]
    MULTI_AZ_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_CACHE_CLUSTER_A_ZS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUP_NAMES_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_ARN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ARNS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    AT_REST_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    replication_group_description: str
    num_cache_clusters: int
    primary_cluster_id: str
    automatic_failover_enabled: bool
    multi_az_enabled: bool
    cache_node_type: str
    engine: str
    engine_version: str
    port: int
    preferred_cache_cluster_a_zs: _containers.RepeatedScalarFieldContainer[str]
    preferred_maintenance_window: str
    auto_minor_version_upgrade: bool
    cache_parameter_group_name: str
    cache_security_group_names: _containers.RepeatedScalarFieldContainer[str]
    notification_topic_arn: str
    snapshot_arns: _containers.RepeatedScalarFieldContainer[str]
    snapshot_name: str
    snapshot_retention_limit: int
    snapshot_window: str
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    auth_token: str
    user_group_ids: _containers.RepeatedScalarFieldContainer[str]
    at_rest_encryption_enabled: bool
    def __init__(self, replication_group_id: _Optional[str] = ..., replication_group_description: _Optional[str] = ..., num_cache_clusters: _Optional[int] = ..., primary_cluster_id: _Optional[str] = ..., automatic_failover_enabled: _Optional[bool] = ..., multi_az_enabled: _Optional[bool] = ..., cache_node_type: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., port: _Optional[int] = ..., preferred_cache_cluster_a_zs: _Optional[_Iterable[str]] = ..., preferred_maintenance_window: _Optional[str] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., cache_parameter_group_name: _Optional[str] = ..., cache_security_group_names: _Optional[_Iterable[str]] = ..., notification_topic_arn: _Optional[str] = ..., snapshot_arns: _Optional[_Iterable[str]] = ..., snapshot_name: _Optional[str] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ..., auth_token: _Optional[str] = ..., user_group_ids: _Optional[_Iterable[str]] = ..., at_rest_encryption_enabled: _Optional[bool] = ...) -> None: ...

class CreateReplicationGroupResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class DescribeReplicationGroupsRequest(_message.Message):
    __slots__ = ("replication_group_id", "max_records", "marker")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    max_records: int
    marker: str
    def __init__(self, replication_group_id: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeReplicationGroupsResponse(_message.Message):
    __slots__ = ("marker", "replication_groups")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUPS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    replication_groups: _containers.RepeatedCompositeFieldContainer[ReplicationGroup]
    def __init__(self, marker: _Optional[str] = ..., replication_groups: _Optional[_Iterable[_Union[ReplicationGroup, _Mapping]]] = ...) -> None: ...

class ModifyReplicationGroupRequest(_message.Message):
    __slots__ = ("replication_group_id", "primary_cluster_id", "automatic_failover_enabled", "multi_az_enabled", "apply_immediately", "replication_group_description", "engine_version", "preferred_maintenance_window", "auto_minor_version_upgrade", "cache_node_type", "cache_parameter_group_name", "cache_security_group_names", "notification_topic_arn", "notification_topic_status", "snapshot_retention_limit", "snapshot_window", "snapshotting_cluster_id", "auth_token", "auth_token_update_strategy", "user_group_ids_to_add", "user_group_ids_to_remove", "remove_user_groups", "transit_encryption_enabled", "transit_encryption_mode")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FAILOVER_ENABLED_FIELD_NUMBER: _ClassVar[int]
    MULTI_AZ_ENABLED_FIELD_NUMBER: _ClassVar[int]
    APPLY_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUP_NAMES_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_ARN_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TOPIC_STATUS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTTING_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_UPDATE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    USER_GROUP_IDS_TO_ADD_FIELD_NUMBER: _ClassVar[int]
    USER_GROUP_IDS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_USER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_MODE_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    primary_cluster_id: str
    automatic_failover_enabled: bool
    multi_az_enabled: bool
    apply_immediately: bool
    replication_group_description: str
    engine_version: str
    preferred_maintenance_window: str
    auto_minor_version_upgrade: bool
    cache_node_type: str
    cache_parameter_group_name: str
    cache_security_group_names: _containers.RepeatedScalarFieldContainer[str]
    notification_topic_arn: str
    notification_topic_status: str
    snapshot_retention_limit: int
    snapshot_window: str
    snapshotting_cluster_id: str
    auth_token: str
    auth_token_update_strategy: str
    user_group_ids_to_add: _containers.RepeatedScalarFieldContainer[str]
    user_group_ids_to_remove: _containers.RepeatedScalarFieldContainer[str]
    remove_user_groups: bool
    transit_encryption_enabled: bool
    transit_encryption_mode: str
    def __init__(self, replication_group_id: _Optional[str] = ..., primary_cluster_id: _Optional[str] = ..., automatic_failover_enabled: _Optional[bool] = ..., multi_az_enabled: _Optional[bool] = ..., apply_immediately: _Optional[bool] = ..., replication_group_description: _Optional[str] = ..., engine_version: _Optional[str] = ..., preferred_maintenance_window: _Optional[str] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., cache_node_type: _Optional[str] = ..., cache_parameter_group_name: _Optional[str] = ..., cache_security_group_names: _Optional[_Iterable[str]] = ..., notification_topic_arn: _Optional[str] = ..., notification_topic_status: _Optional[str] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., snapshotting_cluster_id: _Optional[str] = ..., auth_token: _Optional[str] = ..., auth_token_update_strategy: _Optional[str] = ..., user_group_ids_to_add: _Optional[_Iterable[str]] = ..., user_group_ids_to_remove: _Optional[_Iterable[str]] = ..., remove_user_groups: _Optional[bool] = ..., transit_encryption_enabled: _Optional[bool] = ..., transit_encryption_mode: _Optional[str] = ...) -> None: ...

class ModifyReplicationGroupResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class IncreaseReplicaCountRequest(_message.Message):
    __slots__ = ("replication_group_id", "new_replica_count", "apply_immediately")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_REPLICA_COUNT_FIELD_NUMBER: _ClassVar[int]
    APPLY_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    new_replica_count: int
    apply_immediately: bool
    def __init__(self, replication_group_id: _Optional[str] = ..., new_replica_count: _Optional[int] = ..., apply_immediately: _Optional[bool] = ...) -> None: ...

class IncreaseReplicaCountResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class DecreaseReplicaCountRequest(_message.Message):
    __slots__ = ("replication_group_id", "new_replica_count", "replicas_to_remove", "apply_immediately")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_REPLICA_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    APPLY_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    new_replica_count: int
    replicas_to_remove: _containers.RepeatedScalarFieldContainer[str]
    apply_immediately: bool
    def __init__(self, replication_group_id: _Optional[str] = ..., new_replica_count: _Optional[int] = ..., replicas_to_remove: _Optional[_Iterable[str]] = ..., apply_immediately: _Optional[bool] = ...) -> None: ...

class DecreaseReplicaCountResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class DeleteReplicationGroupRequest(_message.Message):
    __slots__ = ("replication_group_id", "retain_primary_cluster", "final_snapshot_identifier")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    RETAIN_PRIMARY_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    FINAL_SNAPSHOT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    retain_primary_cluster: bool
    final_snapshot_identifier: str
    def __init__(self, replication_group_id: _Optional[str] = ..., retain_primary_cluster: _Optional[bool] = ..., final_snapshot_identifier: _Optional[str] = ...) -> None: ...

class DeleteReplicationGroupResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class TestFailoverRequest(_message.Message):
    __slots__ = ("replication_group_id", "node_group_id")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    node_group_id: str
    def __init__(self, replication_group_id: _Optional[str] = ..., node_group_id: _Optional[str] = ...) -> None: ...

class TestFailoverResponse(_message.Message):
    __slots__ = ("replication_group",)
    REPLICATION_GROUP_FIELD_NUMBER: _ClassVar[int]
    replication_group: ReplicationGroup
    def __init__(self, replication_group: _Optional[_Union[ReplicationGroup, _Mapping]] = ...) -> None: ...

class CacheParameterGroup(_message.Message):
    __slots__ = ("cache_parameter_group_name", "cache_parameter_group_family", "description", "is_global")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    cache_parameter_group_family: str
    description: str
    is_global: bool
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., cache_parameter_group_family: _Optional[str] = ..., description: _Optional[str] = ..., is_global: _Optional[bool] = ...) -> None: ...

class ParameterNameValue(_message.Message):
    __slots__ = ("parameter_name", "parameter_value")
    PARAMETER_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUE_FIELD_NUMBER: _ClassVar[int]
    parameter_name: str
    parameter_value: str
    def __init__(self, parameter_name: _Optional[str] = ..., parameter_value: _Optional[str] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("parameter_name", "parameter_value", "description", "source", "data_type", "allowed_values", "is_modifiable", "minimum_engine_version", "change_type")
    PARAMETER_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VALUES_FIELD_NUMBER: _ClassVar[int]
    IS_MODIFIABLE_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    parameter_name: str
    parameter_value: str
    description: str
    source: str
    data_type: str
    allowed_values: str
    is_modifiable: bool
    minimum_engine_version: str
    change_type: str
    def __init__(self, parameter_name: _Optional[str] = ..., parameter_value: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., data_type: _Optional[str] = ..., allowed_values: _Optional[str] = ..., is_modifiable: _Optional[bool] = ..., minimum_engine_version: _Optional[str] = ..., change_type: _Optional[str] = ...) -> None: ...

class CreateCacheParameterGroupRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name", "cache_parameter_group_family", "description")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    cache_parameter_group_family: str
    description: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., cache_parameter_group_family: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreateCacheParameterGroupResponse(_message.Message):
    __slots__ = ("cache_parameter_group",)
    CACHE_PARAMETER_GROUP_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group: CacheParameterGroup
    def __init__(self, cache_parameter_group: _Optional[_Union[CacheParameterGroup, _Mapping]] = ...) -> None: ...

class ModifyCacheParameterGroupRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name", "parameter_name_values")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_NAME_VALUES_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    parameter_name_values: _containers.RepeatedCompositeFieldContainer[ParameterNameValue]
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., parameter_name_values: _Optional[_Iterable[_Union[ParameterNameValue, _Mapping]]] = ...) -> None: ...

class ModifyCacheParameterGroupResponse(_message.Message):
    __slots__ = ("cache_parameter_group_name",)
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ...) -> None: ...

class ResetCacheParameterGroupRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name", "reset_all_parameters", "parameter_name_values")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    RESET_ALL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_NAME_VALUES_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    reset_all_parameters: bool
    parameter_name_values: _containers.RepeatedCompositeFieldContainer[ParameterNameValue]
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., reset_all_parameters: _Optional[bool] = ..., parameter_name_values: _Optional[_Iterable[_Union[ParameterNameValue, _Mapping]]] = ...) -> None: ...

class ResetCacheParameterGroupResponse(_message.Message):
    __slots__ = ("cache_parameter_group_name",)
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ...) -> None: ...

class DescribeCacheParameterGroupsRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name", "max_records", "marker")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    max_records: int
    marker: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeCacheParameterGroupsResponse(_message.Message):
    __slots__ = ("marker", "cache_parameter_groups")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    cache_parameter_groups: _containers.RepeatedCompositeFieldContainer[CacheParameterGroup]
    def __init__(self, marker: _Optional[str] = ..., cache_parameter_groups: _Optional[_Iterable[_Union[CacheParameterGroup, _Mapping]]] = ...) -> None: ...

class DescribeCacheParametersRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name", "source", "max_records", "marker")
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    source: str
    max_records: int
    marker: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ..., source: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeCacheParametersResponse(_message.Message):
    __slots__ = ("marker", "parameters")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    def __init__(self, marker: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ...) -> None: ...

class EngineDefaults(_message.Message):
    __slots__ = ("cache_parameter_group_family", "marker", "parameters")
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_family: str
    marker: str
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    def __init__(self, cache_parameter_group_family: _Optional[str] = ..., marker: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ...) -> None: ...

class DescribeEngineDefaultParametersRequest(_message.Message):
    __slots__ = ("cache_parameter_group_family", "max_records", "marker")
    CACHE_PARAMETER_GROUP_FAMILY_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_family: str
    max_records: int
    marker: str
    def __init__(self, cache_parameter_group_family: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeEngineDefaultParametersResponse(_message.Message):
    __slots__ = ("engine_defaults",)
    ENGINE_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    engine_defaults: EngineDefaults
    def __init__(self, engine_defaults: _Optional[_Union[EngineDefaults, _Mapping]] = ...) -> None: ...

class DeleteCacheParameterGroupRequest(_message.Message):
    __slots__ = ("cache_parameter_group_name",)
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    cache_parameter_group_name: str
    def __init__(self, cache_parameter_group_name: _Optional[str] = ...) -> None: ...

class DeleteCacheParameterGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NotificationConfiguration(_message.Message):
    __slots__ = ("topic_arn", "topic_status")
    TOPIC_ARN_FIELD_NUMBER: _ClassVar[int]
    TOPIC_STATUS_FIELD_NUMBER: _ClassVar[int]
    topic_arn: str
    topic_status: str
    def __init__(self, topic_arn: _Optional[str] = ..., topic_status: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("source_identifier", "source_type", "start_time", "duration", "caller")
    SOURCE_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    source_identifier: str
    source_type: str
    start_time: _timestamp_pb2.Timestamp
    duration: int
    caller: str
    def __init__(self, source_identifier: _Optional[str] = ..., source_type: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[int] = ..., caller: _Optional[str] = ...) -> None: ...

class DescribeUsageRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "cache_cluster_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    cache_cluster_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cache_cluster_id: _Optional[str] = ...) -> None: ...

class UsageRecord(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_type", "engine", "node_hours", "replication_group_id")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    NODE_HOURS_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_type: str
    engine: str
    node_hours: int
    replication_group_id: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_type: _Optional[str] = ..., engine: _Optional[str] = ..., node_hours: _Optional[int] = ..., replication_group_id: _Optional[str] = ...) -> None: ...

class DescribeUsageResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "usage_records")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    usage_records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage_records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class NodeSnapshot(_message.Message):
    __slots__ = ("cache_cluster_id", "cache_node_id", "cache_size", "cache_node_create_time", "snapshot_create_time", "size_bytes", "sha256")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    cache_node_id: str
    cache_size: str
    cache_node_create_time: _timestamp_pb2.Timestamp
    snapshot_create_time: _timestamp_pb2.Timestamp
    size_bytes: int
    sha256: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., cache_size: _Optional[str] = ..., cache_node_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("snapshot_name", "replication_group_id", "replication_group_description", "cache_cluster_id", "snapshot_status", "snapshot_source", "cache_node_type", "engine", "engine_version", "num_cache_nodes", "preferred_availability_zone", "cache_cluster_create_time", "preferred_maintenance_window", "port", "cache_parameter_group_name", "auto_minor_version_upgrade", "snapshot_retention_limit", "snapshot_window", "automatic_failover", "node_snapshots", "arn", "status_reason", "at_rest_encryption_enabled")
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUP_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_STATUS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NUM_CACHE_NODES_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    CACHE_PARAMETER_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    AUTO_MINOR_VERSION_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FAILOVER_FIELD_NUMBER: _ClassVar[int]
    NODE_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    AT_REST_ENCRYPTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    snapshot_name: str
    replication_group_id: str
    replication_group_description: str
    cache_cluster_id: str
    snapshot_status: str
    snapshot_source: str
    cache_node_type: str
    engine: str
    engine_version: str
    num_cache_nodes: int
    preferred_availability_zone: str
    cache_cluster_create_time: _timestamp_pb2.Timestamp
    preferred_maintenance_window: str
    port: int
    cache_parameter_group_name: str
    auto_minor_version_upgrade: bool
    snapshot_retention_limit: int
    snapshot_window: str
    automatic_failover: str
    node_snapshots: _containers.RepeatedCompositeFieldContainer[NodeSnapshot]
    arn: str
    status_reason: str
    at_rest_encryption_enabled: bool
    def __init__(self, snapshot_name: _Optional[str] = ..., replication_group_id: _Optional[str] = ..., replication_group_description: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., snapshot_status: _Optional[str] = ..., snapshot_source: _Optional[str] = ..., cache_node_type: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., num_cache_nodes: _Optional[int] = ..., preferred_availability_zone: _Optional[str] = ..., cache_cluster_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., preferred_maintenance_window: _Optional[str] = ..., port: _Optional[int] = ..., cache_parameter_group_name: _Optional[str] = ..., auto_minor_version_upgrade: _Optional[bool] = ..., snapshot_retention_limit: _Optional[int] = ..., snapshot_window: _Optional[str] = ..., automatic_failover: _Optional[str] = ..., node_snapshots: _Optional[_Iterable[_Union[NodeSnapshot, _Mapping]]] = ..., arn: _Optional[str] = ..., status_reason: _Optional[str] = ..., at_rest_encryption_enabled: _Optional[bool] = ...) -> None: ...

class CreateSnapshotRequest(_message.Message):
    __slots__ = ("replication_group_id", "cache_cluster_id", "snapshot_name")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    cache_cluster_id: str
    snapshot_name: str
    def __init__(self, replication_group_id: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., snapshot_name: _Optional[str] = ...) -> None: ...

class CreateSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class DescribeSnapshotsRequest(_message.Message):
    __slots__ = ("replication_group_id", "cache_cluster_id", "snapshot_name", "snapshot_source", "max_records", "marker")
    REPLICATION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    replication_group_id: str
    cache_cluster_id: str
    snapshot_name: str
    snapshot_source: str
    max_records: int
    marker: str
    def __init__(self, replication_group_id: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., snapshot_name: _Optional[str] = ..., snapshot_source: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeSnapshotsResponse(_message.Message):
    __slots__ = ("marker", "snapshots")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    snapshots: _containers.RepeatedCompositeFieldContainer[Snapshot]
    def __init__(self, marker: _Optional[str] = ..., snapshots: _Optional[_Iterable[_Union[Snapshot, _Mapping]]] = ...) -> None: ...

class CopySnapshotRequest(_message.Message):
    __slots__ = ("source_snapshot_name", "target_snapshot_name")
    SOURCE_SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    source_snapshot_name: str
    target_snapshot_name: str
    def __init__(self, source_snapshot_name: _Optional[str] = ..., target_snapshot_name: _Optional[str] = ...) -> None: ...

class CopySnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class DeleteSnapshotRequest(_message.Message):
    __slots__ = ("snapshot_name",)
    SNAPSHOT_NAME_FIELD_NUMBER: _ClassVar[int]
    snapshot_name: str
    def __init__(self, snapshot_name: _Optional[str] = ...) -> None: ...

class DeleteSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class CacheSecurityGroupMembership(_message.Message):
    __slots__ = ("cache_security_group_name", "status")
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    status: str
    def __init__(self, cache_security_group_name: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class EC2SecurityGroup(_message.Message):
    __slots__ = ("status", "ec2_security_group_name", "ec2_security_group_owner_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    ec2_security_group_name: str
    ec2_security_group_owner_id: str
    def __init__(self, status: _Optional[str] = ..., ec2_security_group_name: _Optional[str] = ..., ec2_security_group_owner_id: _Optional[str] = ...) -> None: ...

class IPRange(_message.Message):
    __slots__ = ("cidr_ip", "status")
    CIDR_IP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cidr_ip: str
    status: str
    def __init__(self, cidr_ip: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class CacheSecurityGroup(_message.Message):
    __slots__ = ("owner_id", "cache_security_group_name", "description", "ec2_security_groups", "ip_ranges", "arn")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    IP_RANGES_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    cache_security_group_name: str
    description: str
    ec2_security_groups: _containers.RepeatedCompositeFieldContainer[EC2SecurityGroup]
    ip_ranges: _containers.RepeatedCompositeFieldContainer[IPRange]
    arn: str
    def __init__(self, owner_id: _Optional[str] = ..., cache_security_group_name: _Optional[str] = ..., description: _Optional[str] = ..., ec2_security_groups: _Optional[_Iterable[_Union[EC2SecurityGroup, _Mapping]]] = ..., ip_ranges: _Optional[_Iterable[_Union[IPRange, _Mapping]]] = ..., arn: _Optional[str] = ...) -> None: ...

class CreateCacheSecurityGroupRequest(_message.Message):
    __slots__ = ("cache_security_group_name", "description")
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    description: str
    def __init__(self, cache_security_group_name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreateCacheSecurityGroupResponse(_message.Message):
    __slots__ = ("cache_security_group",)
    CACHE_SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    cache_security_group: CacheSecurityGroup
    def __init__(self, cache_security_group: _Optional[_Union[CacheSecurityGroup, _Mapping]] = ...) -> None: ...

class DescribeCacheSecurityGroupsRequest(_message.Message):
    __slots__ = ("cache_security_group_name", "max_records", "marker")
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    max_records: int
    marker: str
    def __init__(self, cache_security_group_name: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeCacheSecurityGroupsResponse(_message.Message):
    __slots__ = ("marker", "cache_security_groups")
    MARKER_FIELD_NUMBER: _ClassVar[int]
    CACHE_SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    marker: str
    cache_security_groups: _containers.RepeatedCompositeFieldContainer[CacheSecurityGroup]
    def __init__(self, marker: _Optional[str] = ..., cache_security_groups: _Optional[_Iterable[_Union[CacheSecurityGroup, _Mapping]]] = ...) -> None: ...

class DeleteCacheSecurityGroupRequest(_message.Message):
    __slots__ = ("cache_security_group_name",)
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    def __init__(self, cache_security_group_name: _Optional[str] = ...) -> None: ...

class DeleteCacheSecurityGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthorizeCacheSecurityGroupIngressRequest(_message.Message):
    __slots__ = ("cache_security_group_name", "ec2_security_group_name", "ec2_security_group_owner_id", "cidr_ip")
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CIDR_IP_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    ec2_security_group_name: str
    ec2_security_group_owner_id: str
    cidr_ip: str
    def __init__(self, cache_security_group_name: _Optional[str] = ..., ec2_security_group_name: _Optional[str] = ..., ec2_security_group_owner_id: _Optional[str] = ..., cidr_ip: _Optional[str] = ...) -> None: ...

class AuthorizeCacheSecurityGroupIngressResponse(_message.Message):
    __slots__ = ("cache_security_group",)
    CACHE_SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    cache_security_group: CacheSecurityGroup
    def __init__(self, cache_security_group: _Optional[_Union[CacheSecurityGroup, _Mapping]] = ...) -> None: ...

class RevokeCacheSecurityGroupIngressRequest(_message.Message):
    __slots__ = ("cache_security_group_name", "ec2_security_group_name", "ec2_security_group_owner_id", "cidr_ip")
    CACHE_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    EC2_SECURITY_GROUP_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CIDR_IP_FIELD_NUMBER: _ClassVar[int]
    cache_security_group_name: str
    ec2_security_group_name: str
    ec2_security_group_owner_id: str
    cidr_ip: str
    def __init__(self, cache_security_group_name: _Optional[str] = ..., ec2_security_group_name: _Optional[str] = ..., ec2_security_group_owner_id: _Optional[str] = ..., cidr_ip: _Optional[str] = ...) -> None: ...

class RevokeCacheSecurityGroupIngressResponse(_message.Message):
    __slots__ = ("cache_security_group",)
    CACHE_SECURITY_GROUP_FIELD_NUMBER: _ClassVar[int]
    cache_security_group: CacheSecurityGroup
    def __init__(self, cache_security_group: _Optional[_Union[CacheSecurityGroup, _Mapping]] = ...) -> None: ...

class Authentication(_message.Message):
    __slots__ = ("type", "password_count")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    type: str
    password_count: int
    def __init__(self, type: _Optional[str] = ..., password_count: _Optional[int] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "user_name", "status", "engine", "minimum_engine_version", "access_string", "user_group_ids", "authentication", "arn")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_STRING_FIELD_NUMBER: _ClassVar[int]
    USER_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user_name: str
    status: str
    engine: str
    minimum_engine_version: str
    access_string: str
    user_group_ids: _containers.RepeatedScalarFieldContainer[str]
    authentication: Authentication
    arn: str
    def __init__(self, user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., status: _Optional[str] = ..., engine: _Optional[str] = ..., minimum_engine_version: _Optional[str] = ..., access_string: _Optional[str] = ..., user_group_ids: _Optional[_Iterable[str]] = ..., authentication: _Optional[_Union[Authentication, _Mapping]] = ..., arn: _Optional[str] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("user_id", "user_name", "engine", "passwords", "access_string", "no_password_required")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PASSWORDS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_STRING_FIELD_NUMBER: _ClassVar[int]
    NO_PASSWORD_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user_name: str
    engine: str
    passwords: _containers.RepeatedScalarFieldContainer[str]
    access_string: str
    no_password_required: bool
    def __init__(self, user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., engine: _Optional[str] = ..., passwords: _Optional[_Iterable[str]] = ..., access_string: _Optional[str] = ..., no_password_required: _Optional[bool] = ...) -> None: ...

class ModifyUserRequest(_message.Message):
    __slots__ = ("user_id", "access_string", "append_access_string", "passwords", "no_password_required")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_STRING_FIELD_NUMBER: _ClassVar[int]
    APPEND_ACCESS_STRING_FIELD_NUMBER: _ClassVar[int]
    PASSWORDS_FIELD_NUMBER: _ClassVar[int]
    NO_PASSWORD_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    access_string: str
    append_access_string: str
    passwords: _containers.RepeatedScalarFieldContainer[str]
    no_password_required: bool
    def __init__(self, user_id: _Optional[str] = ..., access_string: _Optional[str] = ..., append_access_string: _Optional[str] = ..., passwords: _Optional[_Iterable[str]] = ..., no_password_required: _Optional[bool] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DescribeUsersRequest(_message.Message):
    __slots__ = ("engine", "user_id", "max_records", "marker")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    engine: str
    user_id: str
    max_records: int
    marker: str
    def __init__(self, engine: _Optional[str] = ..., user_id: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeUsersResponse(_message.Message):
    __slots__ = ("users", "marker")
    USERS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    marker: str
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., marker: _Optional[str] = ...) -> None: ...

class UserGroupPendingChanges(_message.Message):
    __slots__ = ("user_ids_to_remove", "user_ids_to_add")
    USER_IDS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_TO_ADD_FIELD_NUMBER: _ClassVar[int]
    user_ids_to_remove: _containers.RepeatedScalarFieldContainer[str]
    user_ids_to_add: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids_to_remove: _Optional[_Iterable[str]] = ..., user_ids_to_add: _Optional[_Iterable[str]] = ...) -> None: ...

class UserGroup(_message.Message):
    __slots__ = ("user_group_id", "status", "engine", "user_ids", "minimum_engine_version", "pending_changes", "replication_groups", "arn")
    USER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PENDING_CHANGES_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ARN_FIELD_NUMBER: _ClassVar[int]
    user_group_id: str
    status: str
    engine: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    minimum_engine_version: str
    pending_changes: UserGroupPendingChanges
    replication_groups: _containers.RepeatedScalarFieldContainer[str]
    arn: str
    def __init__(self, user_group_id: _Optional[str] = ..., status: _Optional[str] = ..., engine: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ..., minimum_engine_version: _Optional[str] = ..., pending_changes: _Optional[_Union[UserGroupPendingChanges, _Mapping]] = ..., replication_groups: _Optional[_Iterable[str]] = ..., arn: _Optional[str] = ...) -> None: ...

class CreateUserGroupRequest(_message.Message):
    __slots__ = ("user_group_id", "engine", "user_ids")
    USER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_group_id: str
    engine: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_group_id: _Optional[str] = ..., engine: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ModifyUserGroupRequest(_message.Message):
    __slots__ = ("user_group_id", "user_ids_to_add", "user_ids_to_remove")
    USER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_TO_ADD_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_TO_REMOVE_FIELD_NUMBER: _ClassVar[int]
    user_group_id: str
    user_ids_to_add: _containers.RepeatedScalarFieldContainer[str]
    user_ids_to_remove: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_group_id: _Optional[str] = ..., user_ids_to_add: _Optional[_Iterable[str]] = ..., user_ids_to_remove: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteUserGroupRequest(_message.Message):
    __slots__ = ("user_group_id",)
    USER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    user_group_id: str
    def __init__(self, user_group_id: _Optional[str] = ...) -> None: ...

class DescribeUserGroupsRequest(_message.Message):
    __slots__ = ("user_group_id", "max_records", "marker")
    USER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    user_group_id: str
    max_records: int
    marker: str
    def __init__(self, user_group_id: _Optional[str] = ..., max_records: _Optional[int] = ..., marker: _Optional[str] = ...) -> None: ...

class DescribeUserGroupsResponse(_message.Message):
    __slots__ = ("user_groups", "marker")
    USER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    user_groups: _containers.RepeatedCompositeFieldContainer[UserGroup]
    marker: str
    def __init__(self, user_groups: _Optional[_Iterable[_Union[UserGroup, _Mapping]]] = ..., marker: _Optional[str] = ...) -> None: ...

class AccessKey(_message.Message):
    __slots__ = ("access_key_id", "secret_access_key", "status", "role", "user_name", "create_date")
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    secret_access_key: str
    status: str
    role: str
    user_name: str
    create_date: _timestamp_pb2.Timestamp
    def __init__(self, access_key_id: _Optional[str] = ..., secret_access_key: _Optional[str] = ..., status: _Optional[str] = ..., role: _Optional[str] = ..., user_name: _Optional[str] = ..., create_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAccessKeyRequest(_message.Message):
    __slots__ = ("role", "user_name")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    role: str
    user_name: str
    def __init__(self, role: _Optional[str] = ..., user_name: _Optional[str] = ...) -> None: ...

class CreateAccessKeyResponse(_message.Message):
    __slots__ = ("access_key",)
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    access_key: AccessKey
    def __init__(self, access_key: _Optional[_Union[AccessKey, _Mapping]] = ...) -> None: ...

class ListAccessKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAccessKeysResponse(_message.Message):
    __slots__ = ("access_key_metadata",)
    ACCESS_KEY_METADATA_FIELD_NUMBER: _ClassVar[int]
    access_key_metadata: _containers.RepeatedCompositeFieldContainer[AccessKey]
    def __init__(self, access_key_metadata: _Optional[_Iterable[_Union[AccessKey, _Mapping]]] = ...) -> None: ...

class DeleteAccessKeyRequest(_message.Message):
    __slots__ = ("access_key_id",)
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    access_key_id: str
    def __init__(self, access_key_id: _Optional[str] = ...) -> None: ...

class DeleteAccessKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
