"""Who may call every RPC of every service, written down once, apart from the rules that
enforce it: a test compares the two, and the list of RPCs comes from the generated
descriptors, so an RPC added without a line here fails the suite instead of going unchecked."""
from __future__ import annotations

import enum

import grpc
from cachefleet.v1 import cache_control_pb2, cache_watch_pb2, node_agent_pb2


class Policy(enum.Enum):
    READONLY = "any client role"
    OPERATOR = "operator and admin clients"
    ADMIN = "admin clients"
    HOST = "hosts, each for itself"
    COORDINATOR = "coordinators only"
    PEER = "coordinators and the fleet's hosts"


R, OP, A = Policy.READONLY, Policy.OPERATOR, Policy.ADMIN

POLICY: dict[str, dict[str, Policy]] = {
    "cachefleet.v1.CacheControl": {
        "CreateCacheCluster": OP, "DescribeCacheClusters": R, "ModifyCacheCluster": OP, "RebootCacheCluster": OP,
        "DeleteCacheCluster": A, "DescribeEvents": R, "DescribeCacheNodeTypes": R, "DescribeHosts": R,
        "DescribeCoordinators": R,
        "CreateReplicationGroup": OP, "DescribeReplicationGroups": R, "ModifyReplicationGroup": OP,
        "IncreaseReplicaCount": OP, "DecreaseReplicaCount": OP, "DeleteReplicationGroup": A, "TestFailover": OP,
        "DescribeCacheEngineVersions": R, "CreateCacheParameterGroup": A, "ModifyCacheParameterGroup": A,
        "ResetCacheParameterGroup": A, "DescribeCacheParameterGroups": R, "DescribeCacheParameters": R,
        "DescribeEngineDefaultParameters": R, "DeleteCacheParameterGroup": A, "WatchEvents": R,
        "DescribeUsage": R, "CreateSnapshot": OP, "DescribeSnapshots": R, "CopySnapshot": OP, "DeleteSnapshot": A,
        "CreateCacheSecurityGroup": A, "DescribeCacheSecurityGroups": R, "DeleteCacheSecurityGroup": A,
        "AuthorizeCacheSecurityGroupIngress": A, "RevokeCacheSecurityGroupIngress": A,
        "CreateUser": A, "ModifyUser": A, "DeleteUser": A, "DescribeUsers": R,
        "CreateUserGroup": A, "ModifyUserGroup": A, "DeleteUserGroup": A, "DescribeUserGroups": R,
        "CreateAccessKey": A, "ListAccessKeys": A, "DeleteAccessKey": A,   # a key is a credential
    },
    "cachefleet.v1.CacheWatch": {
        "GetMetricStatistics": R, "ListMetrics": R, "PutMetricAlarm": OP, "DescribeAlarms": R, "DeleteAlarms": A,
        "DescribeNodeMetrics": R,
    },
    "cachefleet.v1.HostRegistry": {"Heartbeat": Policy.HOST},
    "cachefleet.v1.HostMetrics": {"ReportMetrics": Policy.HOST},
    "cachefleet.v1.NodeAgent": {
        "GetHostInfo": Policy.COORDINATOR, "EnsureNode": Policy.COORDINATOR, "RemoveNode": Policy.COORDINATOR,
        "ConfirmPrimary": Policy.PEER, "ListNodes": Policy.COORDINATOR, "TakeSnapshot": Policy.COORDINATOR,
        "RestoreNodeData": Policy.COORDINATOR, "SetDiscovery": Policy.COORDINATOR,
        "RequestNodeCertificate": Policy.COORDINATOR,
        "SetFirewall": Policy.COORDINATOR,
    },
}

AGENT_SERVICES = ("cachefleet.v1.NodeAgent",)

# Callers by the names SecureServers knows them by; h2 is a host other than the agent's own.
CALLERS = ("readonly", "operator", "admin", "h1", "h2", "coordinator")
ROLE_RANK = {"readonly": 0, "operator": 1, "admin": 2}
STREAM_WAIT_S = 0.2   # an admitted stream with nothing to send yet ends at this deadline


def descriptor_methods() -> list[tuple[str, str, bool]]:
    """(service, method, server-streaming) of every RPC the generated descriptors declare."""
    found = []
    for module in (cache_control_pb2, cache_watch_pb2, node_agent_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            found += [(service.full_name, m.name, m.server_streaming) for m in service.methods]
    return found


def policy(service: str, method: str) -> Policy:
    return POLICY[service][method]


def allowed(rule: Policy, caller: str) -> bool:
    """Whether the written policy lets caller in (what its request then says is another matter)."""
    if caller in ROLE_RANK:
        need = {Policy.READONLY: 0, Policy.OPERATOR: 1, Policy.ADMIN: 2}.get(rule)
        return need is not None and ROLE_RANK[caller] >= need
    if caller == "coordinator":
        return rule in (Policy.READONLY, Policy.OPERATOR, Policy.ADMIN, Policy.COORDINATOR, Policy.PEER)
    return rule in (Policy.HOST, Policy.PEER)


def call(channel: grpc.Channel, service: str, method: str, streaming: bool, request: bytes = b"",
         timeout: float = 5.0) -> tuple[grpc.StatusCode, str]:
    """Call one RPC with a serialized request: the status it ends with and its details (a
    stream: its first message, or the end of a short wait for one)."""
    path = f"/{service}/{method}"
    try:
        if streaming:
            stream = channel.unary_stream(path, request_serializer=lambda b: b,
                                          response_deserializer=lambda b: b)(request, timeout=min(timeout, STREAM_WAIT_S))
            next(iter(stream), None)
        else:
            channel.unary_unary(path, request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)(request, timeout=timeout)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""
