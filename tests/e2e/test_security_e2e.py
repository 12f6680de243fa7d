"""Who may call what, on a real fleet with mTLS: every refusal is made before anything
changes, and says AccessDenied."""
from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.fleetca import CertificateAuthority, write_issued
from cachefleet.common.tls.identity import Identity, Role
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from tests.helpers.clusters import create
from tests.helpers.fleet import Fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("security"), hosts=2).start()
    yield f
    f.discard()


def api(channel: grpc.Channel) -> pb_grpc.CacheControlStub:
    return pb_grpc.CacheControlStub(channel)


def cluster_ids(fleet: Fleet) -> list[str]:
    return sorted(c.cache_cluster_id for c in fleet.stub.DescribeCacheClusters(
        pb.DescribeCacheClustersRequest(), timeout=5).cache_clusters)


def refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details() or ""


def a_create(cluster_id: str) -> pb.CreateCacheClusterRequest:
    return pb.CreateCacheClusterRequest(cache_cluster_id=cluster_id, engine="memcached", num_cache_nodes=1,
                                        cache_node_type="cache.t1.micro")


def test_a_caller_without_a_fleet_certificate_is_refused_at_the_handshake(fleet, tmp_path):
    with grpc.insecure_channel(fleet.endpoint) as plaintext:
        refused(lambda: api(plaintext).CreateCacheCluster(a_create("plain"), timeout=5), grpc.StatusCode.UNAVAILABLE)
    stranger = CertificateAuthority.create()
    files = write_issued(stranger.issue(Identity.client("mallory", Role.ADMIN)), stranger, tmp_path / "mallory")
    with grpc.secure_channel(fleet.endpoint, load_channel_credentials(files)) as foreign:
        refused(lambda: api(foreign).CreateCacheCluster(a_create("foreign"), timeout=5), grpc.StatusCode.UNAVAILABLE)
    assert "plain" not in cluster_ids(fleet) and "foreign" not in cluster_ids(fleet)


def test_each_role_does_what_it_may_and_a_refusal_changes_nothing(fleet):
    with fleet.channel("readonly") as readonly, fleet.channel("operator") as operator:
        assert api(readonly).DescribeCacheClusters(pb.DescribeCacheClustersRequest(), timeout=5) is not None
        details = refused(lambda: api(readonly).CreateCacheCluster(a_create("ro"), timeout=5),
                          grpc.StatusCode.PERMISSION_DENIED)
        assert details.startswith("AccessDenied:") and "operator" in details
        assert "ro" not in cluster_ids(fleet)

        api(operator).CreateCacheCluster(a_create("op"), timeout=5)
        fleet.wait_status("op", "available")
        details = refused(lambda: api(operator).DeleteCacheCluster(
            pb.DeleteCacheClusterRequest(cache_cluster_id="op"), timeout=5), grpc.StatusCode.PERMISSION_DENIED)
        assert details.startswith("AccessDenied:") and "admin" in details
        assert fleet.cluster("op").cache_cluster_status == "available"
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="op"), timeout=5)   # admin may
    fleet.wait_gone("op")


def test_describe_events_shows_who_changed_what(fleet):
    with fleet.channel("operator") as operator:
        api(operator).CreateCacheCluster(a_create("audited"), timeout=5)
    fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name="audited-params", cache_parameter_group_family="redis7.0",
        description="audit"), timeout=5)
    fleet.stub.DeleteCacheParameterGroup(pb.DeleteCacheParameterGroupRequest(
        cache_parameter_group_name="audited-params"), timeout=5)
    out = subprocess.run([sys.executable, "-m", "coordinator.cli", "--endpoint", fleet.endpoint, "describe-events",
                          "--source-identifier", "audited", "--caller", "operator", "--output", "json"],
                         env=fleet.cli_env("readonly"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    by_operator = json.loads(out.stdout)["Events"]
    assert [e["Message"].split(":")[0] for e in by_operator] == ["Cache cluster creating"]
    assert by_operator[0]["Caller"].endswith("/operator")
    by_admin = [e for e in fleet.stub.DescribeEvents(pb.DescribeEventsRequest(caller="admin"), timeout=5).events
                if e.source_identifier == "audited-params"]
    assert [(e.source_type, e.message.split(" called by ")[0]) for e in by_admin] == [
        ("cache-parameter-group", "CreateCacheParameterGroup"), ("cache-parameter-group", "DeleteCacheParameterGroup")]
    assert all(e.caller.endswith("/admin") for e in by_admin)
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="audited"), timeout=5)


def test_a_host_reports_only_for_itself_and_never_calls_the_api(fleet):
    host1, host2 = fleet.hosts
    files = fleet.ca.host(host1.host_id)
    with grpc.secure_channel(fleet.endpoint, load_channel_credentials(files)) as channel:
        registry = agent_grpc.HostRegistryStub(channel)
        forged = agent_pb.HeartbeatRequest(host=agent_pb.HostInfo(
            host_id=host2.host_id, address=host1.address, agent_endpoint=f"127.0.0.1:{host1.agent_port}",
            availability_zone=host2.zone, memory_mb=1))
        details = refused(lambda: registry.Heartbeat(forged, timeout=5), grpc.StatusCode.PERMISSION_DENIED)
        assert details.startswith("AccessDenied:")
        refused(lambda: api(channel).CreateCacheCluster(a_create("byhost"), timeout=5),
                grpc.StatusCode.PERMISSION_DENIED)
    hosts = {h.host_id: h for h in fleet.describe_hosts()}
    assert hosts[host2.host_id].address == host2.address     # the forged heartbeat drew nothing to host1
    assert "byhost" not in cluster_ids(fleet)


def test_an_agent_obeys_its_coordinator_only(fleet):
    create(fleet, "mine", nodes=1)
    cluster = fleet.wait_status("mine", "available")
    host = next(h for h in fleet.hosts if h.host_id == cluster.cache_nodes[0].host_id)
    admin = fleet.ca.client("admin")
    with grpc.secure_channel(f"127.0.0.1:{host.agent_port}", load_channel_credentials(admin)) as channel:
        agent = agent_grpc.NodeAgentStub(channel)
        details = refused(lambda: agent.RemoveNode(agent_pb.RemoveNodeRequest(node_key="mine-0001", discard_data=True),
                                                   timeout=5), grpc.StatusCode.PERMISSION_DENIED)
        assert details.startswith("AccessDenied:")
    with fleet.agent_channel(host) as channel:   # its coordinator's certificate
        nodes = agent_grpc.NodeAgentStub(channel).ListNodes(agent_pb.ListNodesRequest(), timeout=5).nodes
    assert any(n.node_key == "mine-0001" and n.healthy for n in nodes)
