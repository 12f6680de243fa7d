"""A host's certificate speaks for that host only: not for another host's heartbeat or metrics,
not for another host's agent endpoint, not for a node under another node's key. Reports of
nodes placed elsewhere are taken (they are how old copies are found and removed) and change
nothing the coordinator believes of the host the node is placed on."""
from __future__ import annotations

import asyncio

import grpc
import pytest
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from cachefleet.common.tls.authz import CALLER
from cachefleet.common.tls.identity import Identity
from coordinator.api.watch import HostMetricsService
from coordinator.metrics.store import MetricStore
from tests.helpers.inprocess import HOSTS

UNREACHABLE_PORT = 1   # announced endpoints are never dialled successfully: no agent is there


def heartbeat(host_id: str, endpoint_address: str, nodes: list[agent_pb.NodeState] = ()) -> agent_pb.HeartbeatRequest:
    return agent_pb.HeartbeatRequest(host=agent_pb.HostInfo(
        host_id=host_id, address=HOSTS[host_id][-1], agent_endpoint=f"{endpoint_address}:{UNREACHABLE_PORT}",
        availability_zone="zone-a", memory_mb=1024, agent_instance_id=f"{host_id}-test"), nodes=list(nodes))


def node(node_key: str, status: int = agent_pb.NODE_STATUS_AVAILABLE, spec_key: str | None = None,
         cluster_id: str | None = None, node_id: str | None = None) -> agent_pb.NodeState:
    default_cluster, _, default_node = node_key.rpartition("-")
    return agent_pb.NodeState(node_key=node_key, status=status, spec=agent_pb.NodeSpec(
        node_key=node_key if spec_key is None else spec_key, engine="redis",
        cache_cluster_id=default_cluster if cluster_id is None else cluster_id,
        cache_node_id=default_node if node_id is None else node_id))


@pytest.fixture(scope="module")
def registries(servers):
    """HostRegistry and HostMetrics stubs for each host's certificate."""
    channels = {host: servers.channel(host) for host in HOSTS}
    yield {host: (agent_grpc.HostRegistryStub(c), agent_grpc.HostMetricsStub(c)) for host, c in channels.items()}
    for channel in channels.values():
        channel.close()


def refused(call, request) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    assert caught.value.details().startswith("AccessDenied:"), caught.value.details()
    return caught.value.details()


def hosts_known(servers) -> dict[str, agent_pb.HostInfo]:
    return {host_id: state.info for host_id, state in servers.coordinator.registry.hosts.items()}


def test_a_host_heartbeats_for_itself_only(servers, registries):
    registry, _ = registries["h1"]
    before, stored = hosts_known(servers), servers.stored()
    details = refused(registry.Heartbeat, heartbeat("h2", HOSTS["h1"][0]))
    assert "h1" in details and "h2" in details
    assert hosts_known(servers) == before and servers.stored() == stored


def test_a_host_reports_metrics_for_itself_only(servers, registries):
    _, metrics = registries["h1"]
    before = dict(servers.coordinator.metrics.latest)
    refused(metrics.ReportMetrics, agent_pb.ReportMetricsRequest(host_id="h2", samples=[
        agent_pb.NodeMetricSample(cache_cluster_id="forged", cache_node_id="0001", values={"CPUUtilization": 99.0})]))
    assert servers.coordinator.metrics.latest == before


@pytest.mark.parametrize("address", ["127.0.9.2", "127.0.0.2", "h2.example", "[::1]"])
def test_a_host_announces_no_agent_endpoint_its_certificate_does_not_name(servers, registries, address):
    """Else the coordinator would send EnsureNode and RemoveNode meant for h1 to another host's agent."""
    registry, _ = registries["h1"]
    before, stored = hosts_known(servers), servers.stored()
    details = refused(registry.Heartbeat, heartbeat("h1", address))
    assert "agent endpoint" in details
    assert hosts_known(servers) == before and servers.stored() == stored


@pytest.mark.parametrize("forged", [
    pytest.param(node("sec-0001", spec_key="other-0001"), id="spec of another node"),
    pytest.param(node("sec-0001", cluster_id="other"), id="another cluster"),
    pytest.param(node("sec-0001", node_id="0002"), id="another node id"),
])
def test_a_host_reports_a_node_under_its_own_key_only(servers, registries, forged):
    registry, _ = registries["h1"]
    before, stored = hosts_known(servers), servers.stored()
    refused(registry.Heartbeat, heartbeat("h1", HOSTS["h1"][1], [node("sec-0002"), forged]))
    assert hosts_known(servers) == before and servers.stored() == stored


def test_a_report_of_a_node_placed_elsewhere_is_taken_and_touches_only_its_reporter(servers, registries):
    """h2 runs sec-0009; h1 says it runs a failed copy too (an old copy left by a move, say): the
    coordinator keeps what h2 said of h2's node and learns only that h1 has a copy."""
    h1, _ = registries["h1"]
    h2, _ = registries["h2"]
    h2.Heartbeat(heartbeat("h2", HOSTS["h2"][0], [node("sec-0009")]), timeout=5)
    try:
        h1.Heartbeat(heartbeat("h1", HOSTS["h1"][1], [node("sec-0009", agent_pb.NODE_STATUS_FAILED)]), timeout=5)
        hosts = servers.coordinator.registry.hosts
        assert hosts["h2"].nodes["sec-0009"].status == agent_pb.NODE_STATUS_AVAILABLE
        assert hosts["h1"].nodes["sec-0009"].status == agent_pb.NODE_STATUS_FAILED
    finally:   # no node is left for the reconciler to sweep (at endpoints where no agent answers)
        h1.Heartbeat(heartbeat("h1", HOSTS["h1"][1]), timeout=5)
        h2.Heartbeat(heartbeat("h2", HOSTS["h2"][0]), timeout=5)


def test_a_host_may_announce_every_address_its_certificate_names(servers, registries):
    registry, _ = registries["h1"]
    for address in HOSTS["h1"]:
        assert registry.Heartbeat(heartbeat("h1", address), timeout=5).lease_ms > 0
    assert servers.coordinator.registry.hosts["h1"].info.agent_endpoint == f"{HOSTS['h1'][-1]}:{UNREACHABLE_PORT}"


NOT_A_REPORT = b"\xff\xff\xff"   # parsed, it would be refused as InvalidParameterValue instead


class Context:
    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str):
        raise grpc.RpcError(code, details)


def test_one_metric_report_at_a_time_per_certificate_however_many_connections():
    """A host that opens a second connection beside a report being stored is refused as on the first,
    before its bytes are read (a 4 MiB report holds the loop while it is parsed)."""
    async def scenario() -> tuple[grpc.StatusCode, str]:
        service = HostMetricsService(MetricStore(lambda: 1_700_000_000.0))
        CALLER.set(Identity.host("h1"))
        big = agent_pb.ReportMetricsRequest(host_id="h1", samples=[
            agent_pb.NodeMetricSample(cache_cluster_id=f"c{i}", cache_node_id="0001", values={"GetHits": 1.0})
            for i in range(HostMetricsService.MAX_SAMPLES)])
        first = asyncio.create_task(service.ReportMetrics(big.SerializeToString(), Context("ipv4:127.0.0.1:40001")))
        await asyncio.sleep(0)
        try:
            await service.ReportMetrics(NOT_A_REPORT, Context("ipv4:127.0.0.1:40002"))
        except grpc.RpcError as error:
            code, details = error.args
        else:
            code, details = grpc.StatusCode.OK, ""
        await first
        return code, details
    code, details = asyncio.run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and details.startswith("Throttling:"), (code, details)
