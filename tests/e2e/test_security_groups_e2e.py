"""Cache security groups on real hosts: a fleet deployed as README's "Running it as a
service" says, one network namespace per host (tests/helpers/servicefleet.py), each agent
keeping its nftables table; clients in namespaces of their own (198.18.0.0/15).

One bed for the module, one test walking through it (a bed costs seconds): a client the
`default` group authorizes connects, an intruder that nothing authorizes finds every engine
port of the fleet shut, an authorization lets it in and a revoke cuts its open connection,
each within 1 s of the API's answer, and the hosts' tables go with their last node."""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb
from nodeagent.firewall import FirewallUnavailable, HostFirewall
from nodeagent.service import status_for
from tests.helpers.fleet import wait_for
from tests.helpers.netns import Bed
from tests.helpers.servicefleet import ServiceFleet

IN_FORCE_S = 1.0       # a security group change is enforced on every host within this
TABLE = "cachefleet"   # the agent's default table, as the README's units run it


@pytest.fixture(scope="module")
def fleet() -> Iterator[ServiceFleet]:
    services = ("coordinator", "dns", "s3", "client", "intruder")
    with Bed(hosts=2, extra_per_host=1, services=services) as bed, ServiceFleet(bed) as f:
        yield f


def engine_ports(fleet: ServiceFleet, cluster_ids: list[str]) -> list[tuple[str, int]]:
    """Every (address, port) the fleet's engines and configuration endpoints listen on."""
    found = []
    for cluster_id in cluster_ids:
        cluster = fleet.cluster(cluster_id)
        for node in cluster.cache_nodes:
            found.append((node.host_address, cluster.port))
            if cluster.HasField("configuration_endpoint"):
                found.append((node.host_address, cluster.configuration_endpoint.port))
    return sorted(set(found))


def open_ports(fleet: ServiceFleet, role: str, targets: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The targets a TCP connection from role's namespace reaches (all probed at once)."""
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        reached = list(pool.map(lambda t: fleet.bed.reaches(role, t[0], t[1], timeout=0.3), targets))
    return [t for t, ok in zip(targets, reached, strict=True) if ok]


def nft_tables_of(bed: Bed, host: str) -> str:
    return bed.run_once(host, ["nft", "list", "tables"]).stdout


def nft_tables(fleet: ServiceFleet, host: str) -> str:
    return nft_tables_of(fleet.bed, host)


def test_only_authorized_ranges_reach_the_engines_and_a_revoke_cuts_open_connections(fleet):
    stub = fleet.stub
    intruder = fleet.bed.members["intruder"].address
    stub.CreateCacheSecurityGroup(pb.CreateCacheSecurityGroupRequest(
        cache_security_group_name="apps", description="the app servers"), timeout=10)
    client = fleet.bed.members["client"].address
    stub.AuthorizeCacheSecurityGroupIngress(pb.AuthorizeCacheSecurityGroupIngressRequest(
        cache_security_group_name="apps", cidr_ip=f"{client}/32"), timeout=10)
    stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="r1", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        cache_security_group_names=["apps"]), timeout=10)
    stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="m1", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=2), timeout=10)
    r1, _ = fleet.wait_status("r1", "available", 30), fleet.wait_status("m1", "available", 30)
    assert [g.cache_security_group_name for g in r1.cache_security_groups] == ["apps"]
    ports = engine_ports(fleet, ["r1", "m1"])
    assert len(ports) == 5                                   # r1's node; m1's two nodes and their cfg ports
    assert all(TABLE in nft_tables(fleet, host) for host in fleet.hosts)
    assert {h.firewall_status for h in fleet.describe_hosts()} == {"enforced"}

    # the client (default and apps authorize it) reaches everything; the intruder nothing
    assert open_ports(fleet, "client", ports) == ports
    assert open_ports(fleet, "intruder", ports) == []
    r1_address = r1.cache_nodes[0].host_address
    assert fleet.redis(r1_address, r1.port).ping()

    # authorized: in within 1 s of the answer, on every host
    stub.AuthorizeCacheSecurityGroupIngress(pb.AuthorizeCacheSecurityGroupIngressRequest(
        cache_security_group_name="apps", cidr_ip=f"{intruder}/32"), timeout=10)
    authorized = time.monotonic()
    wait_for(lambda: fleet.bed.reaches("intruder", r1_address, r1.port, timeout=0.2), IN_FORCE_S,
             interval=0.01, what="the intruder let in")
    took_in = time.monotonic() - authorized
    held = fleet.bed.connect("intruder", r1_address, r1.port, timeout=0.5)
    held.sendall(b"SET k v\r\n")
    assert held.recv(64) == b"+OK\r\n"
    assert open_ports(fleet, "intruder", ports) == [(r1_address, r1.port)]   # m1 runs in default, not apps

    # revoked: its open connection is cut (reset), and it cannot come back, within 1 s
    stub.RevokeCacheSecurityGroupIngress(pb.RevokeCacheSecurityGroupIngressRequest(
        cache_security_group_name="apps", cidr_ip=f"{intruder}/32"), timeout=10)
    revoked = time.monotonic()

    def cut() -> bool:
        """The connection is reset (its socket destroyed on the host), not left hanging."""
        try:
            held.sendall(b"PING\r\n")
            return held.recv(64) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    wait_for(cut, IN_FORCE_S, interval=0.01, what="the intruder's open connection cut")
    held.close()
    took_out = time.monotonic() - revoked
    assert open_ports(fleet, "intruder", ports) == []
    assert fleet.redis(r1_address, r1.port).get("k") == b"v"   # the client keeps its access
    events = [e.message for e in fleet.events("r1")]
    assert f"Cache security group apps revoked ingress from {intruder}/32" in events
    print(f"\nsecurity group change in force: authorize {took_in * 1000:.0f} ms, revoke (connection cut) "
          f"{took_out * 1000:.0f} ms")

    # the last node gone, the table goes with it
    for cluster_id in ("r1", "m1"):
        stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id=cluster_id), timeout=10)
    wait_for(lambda: fleet.cluster("r1") is None and fleet.cluster("m1") is None, 30, what="clusters deleted")
    wait_for(lambda: all(TABLE not in nft_tables(fleet, host) for host in fleet.hosts), 5,
             what="every host's table removed")


def test_an_agent_that_cannot_run_nft_refuses_to_pretend():
    """No nft (or no right to use it): the start check says so and every SetFirewall is refused
    with FAILED_PRECONDITION `FirewallUnavailable`, which the coordinator turns into a host event
    (tests/unit/test_security_groups.py). Here only because it tries to start a program."""
    firewall = HostFirewall("cachefleet", nft="/nonexistent/nft")
    request = agent_pb.SetFirewallRequest(ports=[agent_pb.FirewallPort(address="198.18.0.1", port=6379)])

    async def scenario():
        assert await firewall.check() is False
        with pytest.raises(FirewallUnavailable) as refused:
            await firewall.set(request)
        return refused.value
    error = asyncio.run(scenario())
    code, message = status_for(error)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert message.startswith("FirewallUnavailable: cannot run /nonexistent/nft")


def test_an_agent_starting_writes_its_last_rules_again_before_anything_else(tmp_path):
    """After a reboot the kernel has no table: the agent's start writes the rules it last took
    (kept in its state directory) before supervisord and the engines start."""
    with Bed(hosts=1, extra_per_host=0, services=()) as bed:
        host = bed.members["h1"]
        request = agent_pb.SetFirewallRequest(
            ports=[agent_pb.FirewallPort(address=host.address, port=6379, cidrs=["198.18.200.0/24"])],
            fleet_sources=[f"{host.address}/32"])
        saved = tmp_path / "firewall.json"

        def in_namespace(action: str) -> None:
            firewall = HostFirewall(TABLE, state_file=saved)
            asyncio.run(firewall.set(request) if action == "set" else firewall.restore())
        bed.call("h1", in_namespace, "set")
        assert "198.18.200.0/24" in bed.run_once("h1", ["nft", "list", "table", "inet", TABLE]).stdout
        bed.run_once("h1", ["nft", "delete", "table", "inet", TABLE])          # the reboot
        assert TABLE not in nft_tables_of(bed, "h1")
        bed.call("h1", in_namespace, "restore")
        assert "198.18.200.0/24" in bed.run_once("h1", ["nft", "list", "table", "inet", TABLE]).stdout
