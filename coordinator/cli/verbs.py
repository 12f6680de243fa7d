"""The verb table: one row per `cachefleet` verb, each naming a CacheControl RPC.

Everything else is derived from the proto: the verb's name (CreateCacheCluster →
create-cache-cluster), its options (one per request field, `cache_node_type` →
`--cache-node-type`, booleans as `--x/--no-x`, lists as several words, structures as
shorthand or JSON), and the output (the whole response, PascalCase). A row adds only
what the proto cannot say: which options aws-cli requires, and how `--wait` knows the
work is done. Adding an RPC to the service means adding its row here (a test checks
that every RPC has one):

    Verb("CreateReplicationGroup", required=("replication_group_id",),
         waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cachefleet.v1 import cache_control_pb2, cache_watch_pb2
from coordinator.cli.output import kebab

SERVICE = cache_control_pb2.DESCRIPTOR.services_by_name["CacheControl"]

GONE = "(gone)"  # a waiter's target: the Describe RPC answers NOT_FOUND


@dataclass(frozen=True)
class Waiter:
    """How `--wait` polls: call describe_rpc for the verb's resource until its status is `until`."""

    name: str                 # as aws names its waiters: CacheClusterAvailable
    describe_rpc: str
    id_field: str             # names the resource, in the verb's request and describe_rpc's
    list_field: str           # describe_rpc's repeated field of resources
    status_field: str
    until: str                # a status, or GONE
    failed: frozenset[str] = frozenset()      # statuses that mean it will never get there
    describe_fields: dict[str, Any] = field(default_factory=dict)  # more describe request fields


@dataclass(frozen=True)
class Verb:
    rpc: str
    summary: str = ""
    required: tuple[str, ...] = ()   # request fields aws-cli requires
    waiter: Waiter | None = None     # None: the verb has no --wait
    result: str | None = None        # the response field --wait fills with the resource's final state
    streams: bool = False            # a server-streaming RPC: print each message as it comes, until Ctrl-C
    follow: str = ""                 # the streaming RPC `--follow` switches to (same filters)
    service: ServiceDescriptor = SERVICE

    @property
    def name(self) -> str:
        return kebab(self.rpc)

    @property
    def method(self) -> MethodDescriptor:
        return self.service.methods_by_name[self.rpc]

    @property
    def request_descriptor(self) -> Descriptor:
        return self.method.input_type

    def request(self, **fields: Any) -> Message:
        return message_class(self.method.input_type)(**fields)

    def response(self, **fields: Any) -> Message:
        return message_class(self.method.output_type)(**fields)


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def describe_request(waiter: Waiter, resource_id: str) -> Message:
    method = SERVICE.methods_by_name[waiter.describe_rpc]
    return message_class(method.input_type)(**{waiter.id_field: resource_id},
                                            **waiter.describe_fields)


_CACHE_CLUSTER: dict[str, Any] = dict(describe_rpc="DescribeCacheClusters", id_field="cache_cluster_id",
                      list_field="cache_clusters", status_field="cache_cluster_status",
                      describe_fields={"show_cache_node_info": True})
CACHE_CLUSTER_AVAILABLE = Waiter(
    "CacheClusterAvailable", until="available",
    failed=frozenset({"deleted", "deleting", "failed", "incompatible-network", "restore-failed"}),
    **_CACHE_CLUSTER)
CACHE_CLUSTER_DELETED = Waiter("CacheClusterDeleted", until=GONE, **_CACHE_CLUSTER)

_REPLICATION_GROUP: dict[str, Any] = dict(describe_rpc="DescribeReplicationGroups", id_field="replication_group_id",
                          list_field="replication_groups", status_field="status")
REPLICATION_GROUP_AVAILABLE = Waiter(
    "ReplicationGroupAvailable", until="available",
    failed=frozenset({"deleted", "deleting", "create-failed"}), **_REPLICATION_GROUP)
REPLICATION_GROUP_DELETED = Waiter("ReplicationGroupDeleted", until=GONE, **_REPLICATION_GROUP)

_SNAPSHOT: dict[str, Any] = dict(describe_rpc="DescribeSnapshots", id_field="snapshot_name", list_field="snapshots",
                 status_field="snapshot_status")
SNAPSHOT_AVAILABLE = Waiter("SnapshotAvailable", until="available", failed=frozenset({"failed", "deleting"}),
                            **_SNAPSHOT)
SNAPSHOT_DELETED = Waiter("SnapshotDeleted", until=GONE, **_SNAPSHOT)

VERBS: tuple[Verb, ...] = (
    Verb("CreateCacheCluster", "Create a cache cluster of N nodes.",
         required=("cache_cluster_id",), waiter=CACHE_CLUSTER_AVAILABLE, result="cache_cluster"),
    Verb("DescribeCacheClusters", "List cache clusters, or describe one."),
    Verb("ModifyCacheCluster", "Add or remove nodes of a cache cluster.",
         required=("cache_cluster_id",), waiter=CACHE_CLUSTER_AVAILABLE, result="cache_cluster"),
    Verb("RebootCacheCluster", "Reboot some nodes of a cache cluster.",
         required=("cache_cluster_id", "cache_node_ids_to_reboot"),
         waiter=CACHE_CLUSTER_AVAILABLE, result="cache_cluster"),
    Verb("DeleteCacheCluster", "Delete a cache cluster and all its nodes.",
         required=("cache_cluster_id",), waiter=CACHE_CLUSTER_DELETED),
    Verb("DescribeEvents", "Events of clusters, nodes and hosts (the last hour by default; --follow streams).",
         follow="WatchEvents"),
    Verb("DescribeCacheNodeTypes", "The node types and their memory."),
    Verb("DescribeHosts", "The hosts of the fleet, their zones, memory and nodes."),
    Verb("DescribeCoordinators", "The coordinators, their endpoints, which one leads and since when."),
    Verb("CreateReplicationGroup", "Create a redis primary with up to five read replicas.",
         required=("replication_group_id", "replication_group_description"),
         waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
    Verb("DescribeReplicationGroups", "List replication groups, or describe one, with roles and lag."),
    Verb("ModifyReplicationGroup", "Switch the primary (planned) or change automatic failover.",
         required=("replication_group_id",), waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
    Verb("IncreaseReplicaCount", "Add read replicas to a replication group.",
         required=("replication_group_id", "apply_immediately"),
         waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
    Verb("DecreaseReplicaCount", "Remove read replicas from a replication group.",
         required=("replication_group_id", "apply_immediately"),
         waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
    Verb("DeleteReplicationGroup", "Delete a replication group (and its clusters, unless the primary is kept).",
         required=("replication_group_id",), waiter=REPLICATION_GROUP_DELETED),
    Verb("TestFailover", "Fail the primary over to a replica, as a real failure would.",
         required=("replication_group_id", "node_group_id"),
         waiter=REPLICATION_GROUP_AVAILABLE, result="replication_group"),
    Verb("DescribeCacheEngineVersions", "The engine versions the fleet's hosts can run, with their families."),
    Verb("CreateCacheParameterGroup", "Create a parameter group of a family (redis7.0, memcached1.6, ...).",
         required=("cache_parameter_group_name", "cache_parameter_group_family", "description")),
    Verb("ModifyCacheParameterGroup", "Set up to 20 parameters of a group; clusters using it follow.",
         required=("cache_parameter_group_name", "parameter_name_values")),
    Verb("ResetCacheParameterGroup", "Return some or all parameters of a group to their defaults.",
         required=("cache_parameter_group_name",)),
    Verb("DescribeCacheParameterGroups", "List parameter groups, or describe one."),
    Verb("DescribeCacheParameters", "The parameters of a group: values, sources, types, change types.",
         required=("cache_parameter_group_name",)),
    Verb("DescribeEngineDefaultParameters", "The default parameters of a family.",
         required=("cache_parameter_group_family",)),
    Verb("DeleteCacheParameterGroup", "Delete a parameter group no cluster uses.",
         required=("cache_parameter_group_name",)),
    # notifications and usage metering
    Verb("WatchEvents", "Follow events as they happen (describe-events --follow does the same).", streams=True),
    Verb("DescribeUsage", "Node-hours per cluster and node type (partial hours count as full hours)."),
    # backup and restore
    Verb("CreateSnapshot", "Snapshot a redis cluster or replication group (a replica's data when it has one).",
         required=("snapshot_name",), waiter=SNAPSHOT_AVAILABLE, result="snapshot"),
    Verb("DescribeSnapshots", "List snapshots, by name, cluster, group or source (manual, automated)."),
    Verb("CopySnapshot", "Copy a snapshot (an automated one's copy is manual: never pruned).",
         required=("source_snapshot_name", "target_snapshot_name")),
    Verb("DeleteSnapshot", "Delete a snapshot and its objects.", required=("snapshot_name",),
         waiter=SNAPSHOT_DELETED),
    # cache security groups
    Verb("CreateCacheSecurityGroup", "Create a cache security group (it lets nothing in until authorized).",
         required=("cache_security_group_name", "description")),
    Verb("DescribeCacheSecurityGroups", "List cache security groups and the ranges they authorize, or one."),
    Verb("DeleteCacheSecurityGroup", "Delete a cache security group no cluster uses.",
         required=("cache_security_group_name",)),
    Verb("AuthorizeCacheSecurityGroupIngress", "Let a CIDR range connect to the nodes of the group's clusters.",
         required=("cache_security_group_name",)),
    Verb("RevokeCacheSecurityGroupIngress", "Stop letting a CIDR range in; its open connections are cut.",
         required=("cache_security_group_name",)),
    # users and user groups (RBAC)
    Verb("CreateUser", "Create a redis user: a name, passwords (or none) and an access string.",
         required=("user_id", "user_name", "engine", "access_string")),
    Verb("ModifyUser", "Change a user's access string or passwords; every member using it follows live.",
         required=("user_id",)),
    Verb("DeleteUser", "Delete a user (it leaves its user groups).", required=("user_id",)),
    Verb("DescribeUsers", "List users, or describe one (never a password)."),
    Verb("CreateUserGroup", "Create a user group; it must hold a user named default.",
         required=("user_group_id", "engine")),
    Verb("ModifyUserGroup", "Add or remove users of a group; every replication group using it follows live.",
         required=("user_group_id",)),
    Verb("DeleteUserGroup", "Delete a user group no replication group uses.", required=("user_group_id",)),
    Verb("DescribeUserGroups", "List user groups, or describe one, with the replication groups using it."),
    # access keys for the Query API (boto3, aws-cli), also spelled `access-key create|list|delete`
    Verb("CreateAccessKey", "Issue an access key for the Query API, acting with a role (its secret is shown once).",
         required=("role",)),
    Verb("ListAccessKeys", "The access keys, their roles and users (never their secrets)."),
    Verb("DeleteAccessKey", "Delete an access key: its next request is refused.", required=("access_key_id",)),
)

# `cachefleet access-key create` is `cachefleet create-access-key`, and so on.
ALIASES: dict[tuple[str, str], str] = {
    ("access-key", "create"): "create-access-key",
    ("access-key", "list"): "list-access-keys",
    ("access-key", "delete"): "delete-access-key",
}

# The second table: CacheWatch (metrics and alarms, CloudWatch's verbs); every RPC has a row.
WATCH_SERVICE = cache_watch_pb2.DESCRIPTOR.services_by_name["CacheWatch"]
WATCH_VERBS: tuple[Verb, ...] = (
    Verb("GetMetricStatistics", "Statistics of a node's (or a cluster's) metric over periods of 60 s or more.",
         required=("cache_cluster_id", "metric_name", "start_time", "end_time", "period", "statistics"),
         service=WATCH_SERVICE),
    Verb("ListMetrics", "The metrics that have data.", service=WATCH_SERVICE),
    Verb("PutMetricAlarm", "Create or replace a threshold alarm on a metric (an event on every state change).",
         required=("alarm_name", "metric_name", "cache_cluster_id", "statistic", "period",
                   "evaluation_periods", "threshold", "comparison_operator"), service=WATCH_SERVICE),
    Verb("DescribeAlarms", "List alarms and their states (OK, ALARM, INSUFFICIENT_DATA).",
         service=WATCH_SERVICE),
    Verb("DeleteAlarms", "Delete alarms.", required=("alarm_names",), service=WATCH_SERVICE),
    Verb("DescribeNodeMetrics", "The latest metric sample of every node.", service=WATCH_SERVICE),
)

VERBS_BY_NAME: dict[str, Verb] = {verb.name: verb for verb in VERBS + WATCH_VERBS}
