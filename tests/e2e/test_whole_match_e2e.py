"""Ids, keys and names are matched whole: `abc\\n` passes no rule that `abc` passes.

Python's `$` also matches before a final newline, so `re.match(r"^[a-z]+$", "abc\\n")`
succeeds; every rule uses fullmatch. Here a real coordinator and agent are sent
`abc\\n` in every place an id, key or name goes, and must refuse it with the right gRPC
status and ElastiCache code, changing nothing.
"""
from __future__ import annotations

import grpc
from cachefleet.common.tls.credentials import load_channel_credentials
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from tests.helpers.fleet import Fleet

BAD = "abc\n"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("whole"), hosts=1).start()
    f.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="abc", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    f.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name="abc", cache_parameter_group_family="redis7.0", description="d"), timeout=5)
    f.wait_status("abc", "available", timeout=30)
    yield f
    f.discard()


@pytest.fixture(scope="module")
def channels(fleet):
    host = fleet.hosts[0]
    host_files = fleet.ca.host(host.host_id)
    with grpc.secure_channel(fleet.endpoint, load_channel_credentials(host_files)) as coordinator, \
            fleet.agent_channel(host) as agent:
        yield agent_grpc.HostRegistryStub(coordinator), agent_grpc.HostMetricsStub(coordinator), \
            agent_grpc.NodeAgentStub(agent)


def state(fleet: Fleet, agent: agent_grpc.NodeAgentStub):
    """Everything the refused requests could have touched."""
    s = fleet.stub
    return (s.DescribeCacheClusters(pb.DescribeCacheClustersRequest(show_cache_node_info=True), timeout=5),
            s.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest(), timeout=5),
            s.DescribeSnapshots(pb.DescribeSnapshotsRequest(), timeout=5),
            s.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5),
            s.DescribeCacheParameters(pb.DescribeCacheParametersRequest(
                cache_parameter_group_name="abc", source="user"), timeout=5),
            sorted(h.host_id for h in s.DescribeHosts(pb.DescribeHostsRequest(), timeout=5).hosts),
            sorted(n.node_key for n in agent.ListNodes(agent_pb.ListNodesRequest(), timeout=5).nodes),
            s.DescribeEvents(pb.DescribeEventsRequest(), timeout=5))


def test_a_trailing_newline_is_refused_everywhere_and_changes_nothing(fleet, channels):
    registry, metrics, agent = channels
    s = fleet.stub
    host = fleet.hosts[0]
    (node,) = [n for n in agent.ListNodes(agent_pb.ListNodesRequest(), timeout=5).nodes]
    node_spec = agent_pb.NodeSpec(node_key=BAD, engine="redis", port=20000, max_memory_mb=64)
    cases = {
        "cluster id": (s.CreateCacheCluster, pb.CreateCacheClusterRequest(
            cache_cluster_id=BAD, engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1)),
        "cluster id (lookup)": (s.DescribeCacheClusters, pb.DescribeCacheClustersRequest(cache_cluster_id=BAD)),
        "cluster id (modify)": (s.ModifyCacheCluster, pb.ModifyCacheClusterRequest(
            cache_cluster_id=BAD, num_cache_nodes=1)),
        "group id": (s.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id=BAD, replication_group_description="d", primary_cluster_id="abc")),
        "group id (lookup)": (s.DescribeReplicationGroups, pb.DescribeReplicationGroupsRequest(
            replication_group_id=BAD)),
        "primary cluster id": (s.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id="g", replication_group_description="d", primary_cluster_id=BAD)),
        "snapshot name": (s.CreateSnapshot, pb.CreateSnapshotRequest(cache_cluster_id="abc", snapshot_name=BAD)),
        "parameter group name": (s.CreateCacheParameterGroup, pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name=BAD, cache_parameter_group_family="redis7.0", description="d")),
        "parameter name": (s.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
            cache_parameter_group_name="abc",
            parameter_name_values=[pb.ParameterNameValue(parameter_name="hz\n", parameter_value="20")])),
        "parameter name (reset)": (s.ResetCacheParameterGroup, pb.ResetCacheParameterGroupRequest(
            cache_parameter_group_name="abc", parameter_name_values=[pb.ParameterNameValue(parameter_name="hz\n")])),
        "node id": (s.RebootCacheCluster, pb.RebootCacheClusterRequest(
            cache_cluster_id="abc", cache_node_ids_to_reboot=["0001\n"])),
        "engine version": (s.CreateCacheCluster, pb.CreateCacheClusterRequest(
            cache_cluster_id="v", engine="redis", engine_version="7.0\n", cache_node_type="cache.t1.micro",
            num_cache_nodes=1)),
        "host id (heartbeat)": (registry.Heartbeat, agent_pb.HeartbeatRequest(host=agent_pb.HostInfo(
            host_id=BAD, address=host.address, agent_endpoint=f"{host.address}:1", availability_zone="zone-a"))),
        "host id (metrics)": (metrics.ReportMetrics, agent_pb.ReportMetricsRequest(host_id=BAD)),
        "node key (ensure)": (agent.EnsureNode, agent_pb.EnsureNodeRequest(spec=node_spec)),
        "node key (remove)": (agent.RemoveNode, agent_pb.RemoveNodeRequest(node_key=node.node_key + "\n")),
        "node key (snapshot)": (agent.TakeSnapshot, agent_pb.TakeSnapshotRequest(node_key=node.node_key + "\n")),
    }
    before = state(fleet, agent)
    for what, (call, request) in cases.items():
        with pytest.raises(grpc.RpcError) as refused:
            call(request, timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, refused.value.details())
        assert refused.value.details().startswith("InvalidParameterValue: "), (what, refused.value.details())
        assert "Traceback" not in refused.value.details()
    assert state(fleet, agent) == before
    assert fleet.coordinator.poll() is None and host.proc.poll() is None
