from cachefleet.v1 import cache_control_pb2 as _cache_control_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_PRIMARY: _ClassVar[Role]
    ROLE_REPLICA: _ClassVar[Role]

class LinkState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINK_STATE_UNSPECIFIED: _ClassVar[LinkState]
    LINK_STATE_UP: _ClassVar[LinkState]
    LINK_STATE_DOWN: _ClassVar[LinkState]

class NodeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATUS_UNSPECIFIED: _ClassVar[NodeStatus]
    NODE_STATUS_STARTING: _ClassVar[NodeStatus]
    NODE_STATUS_AVAILABLE: _ClassVar[NodeStatus]
    NODE_STATUS_FAILED: _ClassVar[NodeStatus]
    NODE_STATUS_STOPPED: _ClassVar[NodeStatus]

class TransitEncryptionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSIT_ENCRYPTION_MODE_UNSPECIFIED: _ClassVar[TransitEncryptionMode]
    TRANSIT_ENCRYPTION_MODE_PREFERRED: _ClassVar[TransitEncryptionMode]
    TRANSIT_ENCRYPTION_MODE_REQUIRED: _ClassVar[TransitEncryptionMode]

class PrimarySight(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIMARY_SIGHT_UNSPECIFIED: _ClassVar[PrimarySight]
    PRIMARY_SIGHT_SEEN: _ClassVar[PrimarySight]
    PRIMARY_SIGHT_REFUSED: _ClassVar[PrimarySight]
    PRIMARY_SIGHT_SILENT: _ClassVar[PrimarySight]

class DataSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_SOURCE_UNSPECIFIED: _ClassVar[DataSource]
    DATA_SOURCE_EMPTY: _ClassVar[DataSource]
    DATA_SOURCE_RDB: _ClassVar[DataSource]
    DATA_SOURCE_AOF: _ClassVar[DataSource]
ROLE_UNSPECIFIED: Role
ROLE_PRIMARY: Role
ROLE_REPLICA: Role
LINK_STATE_UNSPECIFIED: LinkState
LINK_STATE_UP: LinkState
LINK_STATE_DOWN: LinkState
NODE_STATUS_UNSPECIFIED: NodeStatus
NODE_STATUS_STARTING: NodeStatus
NODE_STATUS_AVAILABLE: NodeStatus
NODE_STATUS_FAILED: NodeStatus
NODE_STATUS_STOPPED: NodeStatus
TRANSIT_ENCRYPTION_MODE_UNSPECIFIED: TransitEncryptionMode
TRANSIT_ENCRYPTION_MODE_PREFERRED: TransitEncryptionMode
TRANSIT_ENCRYPTION_MODE_REQUIRED: TransitEncryptionMode
PRIMARY_SIGHT_UNSPECIFIED: PrimarySight
PRIMARY_SIGHT_SEEN: PrimarySight
PRIMARY_SIGHT_REFUSED: PrimarySight
PRIMARY_SIGHT_SILENT: PrimarySight
DATA_SOURCE_UNSPECIFIED: DataSource
DATA_SOURCE_EMPTY: DataSource
DATA_SOURCE_RDB: DataSource
DATA_SOURCE_AOF: DataSource

class HostInfo(_message.Message):
    __slots__ = ("host_id", "address", "agent_endpoint", "availability_zone", "memory_mb", "engines", "agent_version", "agent_instance_id", "extra_addresses", "stores")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    address: str
    agent_endpoint: str
    availability_zone: str
    memory_mb: int
    engines: _containers.RepeatedCompositeFieldContainer[_cache_control_pb2.EngineInstall]
    agent_version: str
    agent_instance_id: str
    extra_addresses: _containers.RepeatedScalarFieldContainer[str]
    stores: _containers.RepeatedCompositeFieldContainer[_cache_control_pb2.StoreStatus]
    def __init__(self, host_id: _Optional[str] = ..., address: _Optional[str] = ..., agent_endpoint: _Optional[str] = ..., availability_zone: _Optional[str] = ..., memory_mb: _Optional[int] = ..., engines: _Optional[_Iterable[_Union[_cache_control_pb2.EngineInstall, _Mapping]]] = ..., agent_version: _Optional[str] = ..., agent_instance_id: _Optional[str] = ..., extra_addresses: _Optional[_Iterable[str]] = ..., stores: _Optional[_Iterable[_Union[_cache_control_pb2.StoreStatus, _Mapping]]] = ...) -> None: ...

class NodeSpec(_message.Message):
    __slots__ = ("node_key", "cache_cluster_id", "cache_node_id", "engine", "engine_version", "port", "max_memory_mb", "reboot_generation", "parameters", "bind_address", "role", "primary_address", "primary_port", "write_fenced", "immediate_parameters", "write_guard", "peers", "term", "transit_encryption", "acl_users", "replication_password")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    REBOOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    BIND_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_PORT_FIELD_NUMBER: _ClassVar[int]
    WRITE_FENCED_FIELD_NUMBER: _ClassVar[int]
    IMMEDIATE_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    WRITE_GUARD_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    ACL_USERS_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    cache_cluster_id: str
    cache_node_id: str
    engine: str
    engine_version: str
    port: int
    max_memory_mb: int
    reboot_generation: int
    parameters: _containers.ScalarMap[str, str]
    bind_address: str
    role: Role
    primary_address: str
    primary_port: int
    write_fenced: bool
    immediate_parameters: _containers.RepeatedScalarFieldContainer[str]
    write_guard: bool
    peers: _containers.RepeatedCompositeFieldContainer[Peer]
    term: int
    transit_encryption: TransitEncryption
    acl_users: _containers.RepeatedCompositeFieldContainer[AclUser]
    replication_password: str
    def __init__(self, node_key: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., port: _Optional[int] = ..., max_memory_mb: _Optional[int] = ..., reboot_generation: _Optional[int] = ..., parameters: _Optional[_Mapping[str, str]] = ..., bind_address: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., primary_address: _Optional[str] = ..., primary_port: _Optional[int] = ..., write_fenced: _Optional[bool] = ..., immediate_parameters: _Optional[_Iterable[str]] = ..., write_guard: _Optional[bool] = ..., peers: _Optional[_Iterable[_Union[Peer, _Mapping]]] = ..., term: _Optional[int] = ..., transit_encryption: _Optional[_Union[TransitEncryption, _Mapping]] = ..., acl_users: _Optional[_Iterable[_Union[AclUser, _Mapping]]] = ..., replication_password: _Optional[str] = ...) -> None: ...

class AclUser(_message.Message):
    __slots__ = ("name", "password_sha256", "nopass", "access_string")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_SHA256_FIELD_NUMBER: _ClassVar[int]
    NOPASS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_STRING_FIELD_NUMBER: _ClassVar[int]
    name: str
    password_sha256: _containers.RepeatedScalarFieldContainer[str]
    nopass: bool
    access_string: str
    def __init__(self, name: _Optional[str] = ..., password_sha256: _Optional[_Iterable[str]] = ..., nopass: _Optional[bool] = ..., access_string: _Optional[str] = ...) -> None: ...

class TransitEncryption(_message.Message):
    __slots__ = ("mode", "cert_pem", "ca_pem", "plaintext_port")
    MODE_FIELD_NUMBER: _ClassVar[int]
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_PORT_FIELD_NUMBER: _ClassVar[int]
    mode: TransitEncryptionMode
    cert_pem: str
    ca_pem: str
    plaintext_port: int
    def __init__(self, mode: _Optional[_Union[TransitEncryptionMode, str]] = ..., cert_pem: _Optional[str] = ..., ca_pem: _Optional[str] = ..., plaintext_port: _Optional[int] = ...) -> None: ...

class RequestNodeCertificateRequest(_message.Message):
    __slots__ = ("node_key",)
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    def __init__(self, node_key: _Optional[str] = ...) -> None: ...

class RequestNodeCertificateResponse(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: str
    def __init__(self, csr_pem: _Optional[str] = ...) -> None: ...

class Peer(_message.Message):
    __slots__ = ("node_key", "agent_endpoint")
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    agent_endpoint: str
    def __init__(self, node_key: _Optional[str] = ..., agent_endpoint: _Optional[str] = ...) -> None: ...

class ReplicationInfo(_message.Message):
    __slots__ = ("role", "link_status", "offset", "last_io_seconds_ago", "sync_in_progress", "connected_replicas", "full_syncs", "primary_host", "primary_port", "run_id", "primary_sight", "primary_unseen_ms", "linked_since_start", "online_replicas")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LINK_STATUS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_IO_SECONDS_AGO_FIELD_NUMBER: _ClassVar[int]
    SYNC_IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    FULL_SYNCS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_HOST_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_PORT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_SIGHT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_UNSEEN_MS_FIELD_NUMBER: _ClassVar[int]
    LINKED_SINCE_START_FIELD_NUMBER: _ClassVar[int]
    ONLINE_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    link_status: LinkState
    offset: int
    last_io_seconds_ago: int
    sync_in_progress: bool
    connected_replicas: int
    full_syncs: int
    primary_host: str
    primary_port: int
    run_id: str
    primary_sight: PrimarySight
    primary_unseen_ms: int
    linked_since_start: bool
    online_replicas: int
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., link_status: _Optional[_Union[LinkState, str]] = ..., offset: _Optional[int] = ..., last_io_seconds_ago: _Optional[int] = ..., sync_in_progress: _Optional[bool] = ..., connected_replicas: _Optional[int] = ..., full_syncs: _Optional[int] = ..., primary_host: _Optional[str] = ..., primary_port: _Optional[int] = ..., run_id: _Optional[str] = ..., primary_sight: _Optional[_Union[PrimarySight, str]] = ..., primary_unseen_ms: _Optional[int] = ..., linked_since_start: _Optional[bool] = ..., online_replicas: _Optional[int] = ...) -> None: ...

class NodeState(_message.Message):
    __slots__ = ("node_key", "spec", "status", "process_state", "pid", "healthy", "message", "restarts", "probe_ok_unix_ms", "replication", "fenced", "applied_parameters", "applied_max_memory_mb", "aof_enabled", "keys", "loaded", "start_data")
    class AppliedParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    PROBE_OK_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    FENCED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_MAX_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    AOF_ENABLED_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    START_DATA_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    spec: NodeSpec
    status: NodeStatus
    process_state: str
    pid: int
    healthy: bool
    message: str
    restarts: int
    probe_ok_unix_ms: int
    replication: ReplicationInfo
    fenced: bool
    applied_parameters: _containers.ScalarMap[str, str]
    applied_max_memory_mb: int
    aof_enabled: bool
    keys: int
    loaded: LoadedData
    start_data: StartData
    def __init__(self, node_key: _Optional[str] = ..., spec: _Optional[_Union[NodeSpec, _Mapping]] = ..., status: _Optional[_Union[NodeStatus, str]] = ..., process_state: _Optional[str] = ..., pid: _Optional[int] = ..., healthy: _Optional[bool] = ..., message: _Optional[str] = ..., restarts: _Optional[int] = ..., probe_ok_unix_ms: _Optional[int] = ..., replication: _Optional[_Union[ReplicationInfo, _Mapping]] = ..., fenced: _Optional[bool] = ..., applied_parameters: _Optional[_Mapping[str, str]] = ..., applied_max_memory_mb: _Optional[int] = ..., aof_enabled: _Optional[bool] = ..., keys: _Optional[int] = ..., loaded: _Optional[_Union[LoadedData, _Mapping]] = ..., start_data: _Optional[_Union[StartData, _Mapping]] = ...) -> None: ...

class StartData(_message.Message):
    __slots__ = ("source", "saved_unix_ms", "last_write_unix_ms", "last_write_keys")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SAVED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_WRITE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_WRITE_KEYS_FIELD_NUMBER: _ClassVar[int]
    source: DataSource
    saved_unix_ms: int
    last_write_unix_ms: int
    last_write_keys: int
    def __init__(self, source: _Optional[_Union[DataSource, str]] = ..., saved_unix_ms: _Optional[int] = ..., last_write_unix_ms: _Optional[int] = ..., last_write_keys: _Optional[int] = ...) -> None: ...

class LoadedData(_message.Message):
    __slots__ = ("run_id", "aof", "keys")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AOF_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    aof: bool
    keys: int
    def __init__(self, run_id: _Optional[str] = ..., aof: _Optional[bool] = ..., keys: _Optional[int] = ...) -> None: ...

class GetHostInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnsureNodeRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: NodeSpec
    def __init__(self, spec: _Optional[_Union[NodeSpec, _Mapping]] = ...) -> None: ...

class ConfirmPrimaryRequest(_message.Message):
    __slots__ = ("replica_node_key", "primary_address", "primary_port", "term")
    REPLICA_NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_PORT_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    replica_node_key: str
    primary_address: str
    primary_port: int
    term: int
    def __init__(self, replica_node_key: _Optional[str] = ..., primary_address: _Optional[str] = ..., primary_port: _Optional[int] = ..., term: _Optional[int] = ...) -> None: ...

class ConfirmPrimaryResponse(_message.Message):
    __slots__ = ("confirmed", "reason")
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    confirmed: bool
    reason: str
    def __init__(self, confirmed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("node_key", "discard_data")
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    DISCARD_DATA_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    discard_data: bool
    def __init__(self, node_key: _Optional[str] = ..., discard_data: _Optional[bool] = ...) -> None: ...

class RemoveNodeResponse(_message.Message):
    __slots__ = ("removed", "set_aside_path")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_PATH_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    set_aside_path: str
    def __init__(self, removed: _Optional[bool] = ..., set_aside_path: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeState]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeState, _Mapping]]] = ...) -> None: ...

class TakeSnapshotRequest(_message.Message):
    __slots__ = ("node_key", "key", "metadata", "store", "encrypted")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    key: str
    metadata: _containers.ScalarMap[str, str]
    store: str
    encrypted: bool
    def __init__(self, node_key: _Optional[str] = ..., key: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., store: _Optional[str] = ..., encrypted: _Optional[bool] = ...) -> None: ...

class SnapshotResult(_message.Message):
    __slots__ = ("key", "size", "sha256", "engine_version", "message")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    key: str
    size: int
    sha256: str
    engine_version: str
    message: str
    def __init__(self, key: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., engine_version: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RestoreNodeDataRequest(_message.Message):
    __slots__ = ("node_key", "key", "sha256", "engine", "engine_version", "store")
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    key: str
    sha256: str
    engine: str
    engine_version: str
    store: str
    def __init__(self, node_key: _Optional[str] = ..., key: _Optional[str] = ..., sha256: _Optional[str] = ..., engine: _Optional[str] = ..., engine_version: _Optional[str] = ..., store: _Optional[str] = ...) -> None: ...

class RestoreNodeDataResponse(_message.Message):
    __slots__ = ("size", "sha256")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    size: int
    sha256: str
    def __init__(self, size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("host", "nodes")
    HOST_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    host: HostInfo
    nodes: _containers.RepeatedCompositeFieldContainer[NodeState]
    def __init__(self, host: _Optional[_Union[HostInfo, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[NodeState, _Mapping]]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "lease_ms", "writable_primaries", "leader_epoch")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    WRITABLE_PRIMARIES_FIELD_NUMBER: _ClassVar[int]
    LEADER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    lease_ms: int
    writable_primaries: _containers.RepeatedScalarFieldContainer[str]
    leader_epoch: int
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., lease_ms: _Optional[int] = ..., writable_primaries: _Optional[_Iterable[str]] = ..., leader_epoch: _Optional[int] = ...) -> None: ...

class NodeMetricSample(_message.Message):
    __slots__ = ("node_key", "cache_cluster_id", "cache_node_id", "sampled_unix_ms", "interval_s", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    node_key: str
    cache_cluster_id: str
    cache_node_id: str
    sampled_unix_ms: int
    interval_s: float
    values: _containers.ScalarMap[str, float]
    def __init__(self, node_key: _Optional[str] = ..., cache_cluster_id: _Optional[str] = ..., cache_node_id: _Optional[str] = ..., sampled_unix_ms: _Optional[int] = ..., interval_s: _Optional[float] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ReportMetricsRequest(_message.Message):
    __slots__ = ("host_id", "samples")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    samples: _containers.RepeatedCompositeFieldContainer[NodeMetricSample]
    def __init__(self, host_id: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[NodeMetricSample, _Mapping]]] = ...) -> None: ...

class ReportMetricsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DiscoveryNode(_message.Message):
    __slots__ = ("host", "ip", "port")
    HOST_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    host: str
    ip: str
    port: int
    def __init__(self, host: _Optional[str] = ..., ip: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class DiscoveryEndpoint(_message.Message):
    __slots__ = ("cache_cluster_id", "bind_address", "port", "version", "engine_version", "nodes", "tls_node_key")
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    BIND_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    TLS_NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    cache_cluster_id: str
    bind_address: str
    port: int
    version: int
    engine_version: str
    nodes: _containers.RepeatedCompositeFieldContainer[DiscoveryNode]
    tls_node_key: str
    def __init__(self, cache_cluster_id: _Optional[str] = ..., bind_address: _Optional[str] = ..., port: _Optional[int] = ..., version: _Optional[int] = ..., engine_version: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[DiscoveryNode, _Mapping]]] = ..., tls_node_key: _Optional[str] = ...) -> None: ...

class SetDiscoveryRequest(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[DiscoveryEndpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[DiscoveryEndpoint, _Mapping]]] = ...) -> None: ...

class SetDiscoveryResponse(_message.Message):
    __slots__ = ("failed",)
    FAILED_FIELD_NUMBER: _ClassVar[int]
    failed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, failed: _Optional[_Iterable[str]] = ...) -> None: ...

class FirewallPort(_message.Message):
    __slots__ = ("address", "port", "cidrs", "cache_cluster_id")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    CIDRS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    cidrs: _containers.RepeatedScalarFieldContainer[str]
    cache_cluster_id: str
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ..., cidrs: _Optional[_Iterable[str]] = ..., cache_cluster_id: _Optional[str] = ...) -> None: ...

class SetFirewallRequest(_message.Message):
    __slots__ = ("ports", "fleet_sources")
    PORTS_FIELD_NUMBER: _ClassVar[int]
    FLEET_SOURCES_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[FirewallPort]
    fleet_sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ports: _Optional[_Iterable[_Union[FirewallPort, _Mapping]]] = ..., fleet_sources: _Optional[_Iterable[str]] = ...) -> None: ...

class SetFirewallResponse(_message.Message):
    __slots__ = ("connections_cut",)
    CONNECTIONS_CUT_FIELD_NUMBER: _ClassVar[int]
    connections_cut: int
    def __init__(self, connections_cut: _Optional[int] = ...) -> None: ...
