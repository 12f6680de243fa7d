"""Cache security groups in-process: the API's answers and refusals (a real CacheControl on
an in-process gRPC server, a real SQLite store), the firewall each host is sent (the decision,
and the reconciler's pushes to simulated agents), and the agent's own rules (the nft batch it
writes, the connections it cuts) as pure functions. Real nftables is tests/e2e's."""
from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.api.clusters import firewall_status
from coordinator.domain import security_groups as sg
from coordinator.domain.model import Cluster, Node, NodeStatus
from coordinator.reconcile.decide_firewall import cidrs_of, fleet_sources, ports_by_host
from coordinator.server import Coordinator, CoordinatorConfig
from nodeagent.errors import InvalidArgument
from nodeagent.firewall import guards, refused_connections, ruleset
from tests.unit.test_cache_control import served
from tests.unit.test_reconcile_cycles import Coordinator as Cycles, available_memcached, run


def cluster(cluster_id: str, groups: list[str], host_id: str = "h1", address: str = "10.0.0.1",
            engine: str = "redis", port: int = 6379, config_port: int = 0) -> Cluster:
    return Cluster(cluster_id, engine, "7.0.15", "cache.t1.micro", port, security_groups=groups,
                   nodes={"0001": Node("0001", NodeStatus.AVAILABLE, host_id, "zone-a", address)},
                   config_port=config_port)


# -- the API ----------------------------------------------------------------------------------

def refusal(call) -> tuple[grpc.StatusCode, str]:
    """The status and the code leading the message of a refused call."""
    async def go():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        return refused.value.code(), refused.value.details().split(":", 1)[0]
    return go()


def test_security_group_calls_answer_and_refuse_with_elasticaches_codes_and_change_nothing(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        await built.security_groups.ensure_default(0.0)
        await built.repo.create(cluster("c1", []))
        try:
            async with served(built) as stub:
                made = await stub.CreateCacheSecurityGroup(pb.CreateCacheSecurityGroupRequest(
                    cache_security_group_name="Web", description="web tier"), timeout=5)
                assert made.cache_security_group.cache_security_group_name == "web"
                auth = pb.AuthorizeCacheSecurityGroupIngressRequest
                granted = await stub.AuthorizeCacheSecurityGroupIngress(
                    auth(cache_security_group_name="web", cidr_ip="198.18.7.0/24"), timeout=5)
                assert [r.cidr_ip for r in granted.cache_security_group.ip_ranges] == ["198.18.7.0/24"]
                before = await stub.DescribeCacheSecurityGroups(pb.DescribeCacheSecurityGroupsRequest(), timeout=5)
                assert [g.cache_security_group_name for g in before.cache_security_groups] == ["default", "web"]

                bad = [
                    (stub.CreateCacheSecurityGroup(pb.CreateCacheSecurityGroupRequest(
                        cache_security_group_name="web", description="again"), timeout=5),
                     (grpc.StatusCode.ALREADY_EXISTS, "CacheSecurityGroupAlreadyExists")),
                    (stub.CreateCacheSecurityGroup(pb.CreateCacheSecurityGroupRequest(
                        cache_security_group_name="web\n", description="x"), timeout=5),
                     (grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")),
                    (stub.CreateCacheSecurityGroup(pb.CreateCacheSecurityGroupRequest(
                        cache_security_group_name="nodesc"), timeout=5),
                     (grpc.StatusCode.INVALID_ARGUMENT, "MissingParameter")),
                    (stub.AuthorizeCacheSecurityGroupIngress(auth(cache_security_group_name="nope",
                                                                  cidr_ip="10.0.0.0/8"), timeout=5),
                     (grpc.StatusCode.NOT_FOUND, "CacheSecurityGroupNotFound")),
                    (stub.AuthorizeCacheSecurityGroupIngress(auth(cache_security_group_name="web",
                                                                  cidr_ip="198.18.7.0/24"), timeout=5),
                     (grpc.StatusCode.ALREADY_EXISTS, "AuthorizationAlreadyExists")),
                    (stub.AuthorizeCacheSecurityGroupIngress(auth(cache_security_group_name="web",
                                                                  ec2_security_group_name="sg-1"), timeout=5),
                     (grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")),
                    (stub.RevokeCacheSecurityGroupIngress(pb.RevokeCacheSecurityGroupIngressRequest(
                        cache_security_group_name="web", cidr_ip="10.9.0.0/16"), timeout=5),
                     (grpc.StatusCode.NOT_FOUND, "AuthorizationNotFound")),
                    (stub.DeleteCacheSecurityGroup(pb.DeleteCacheSecurityGroupRequest(
                        cache_security_group_name="default"), timeout=5),
                     (grpc.StatusCode.FAILED_PRECONDITION, "InvalidCacheSecurityGroupState")),
                    (stub.DeleteCacheSecurityGroup(pb.DeleteCacheSecurityGroupRequest(
                        cache_security_group_name="nope"), timeout=5),
                     (grpc.StatusCode.NOT_FOUND, "CacheSecurityGroupNotFound")),
                    (stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
                        cache_cluster_id="c2", engine="memcached", cache_node_type="cache.t1.micro",
                        num_cache_nodes=1, cache_security_group_names=["web", "nope"]), timeout=5),
                     (grpc.StatusCode.NOT_FOUND, "CacheSecurityGroupNotFound")),
                    (stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
                        cache_cluster_id="c1", cache_security_group_names=["web", "web"]), timeout=5),
                     (grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")),
                    (stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
                        replication_group_id="g1", replication_group_description="d", num_cache_clusters=2,
                        cache_node_type="cache.t1.micro", cache_security_group_names=["nope"]), timeout=5),
                     (grpc.StatusCode.NOT_FOUND, "CacheSecurityGroupNotFound")),
                ]
                for cidr in ("10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "ten/8", "10.0.0.0/8\n", " 10.0.0.0/8"):
                    bad.append((stub.AuthorizeCacheSecurityGroupIngress(
                        auth(cache_security_group_name="web", cidr_ip=cidr), timeout=5),
                        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidParameterValue")))
                for call, expected in bad:
                    assert await refusal(call) == expected
                after = await stub.DescribeCacheSecurityGroups(pb.DescribeCacheSecurityGroupsRequest(), timeout=5)
                assert after == before                       # nothing changed
                assert [c.cluster_id for c in await built.repo.all()] == ["c1"]

                described = await stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(cache_cluster_id="c1"),
                                                             timeout=5)
                assert [m.cache_security_group_name for m in described.cache_clusters[0].cache_security_groups] \
                    == ["default"]
                moved = await stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
                    cache_cluster_id="c1", cache_security_group_names=["web"]), timeout=5)
                assert [m.cache_security_group_name for m in moved.cache_cluster.cache_security_groups] == ["web"]
                assert await refusal(stub.DeleteCacheSecurityGroup(pb.DeleteCacheSecurityGroupRequest(
                    cache_security_group_name="web"), timeout=5)) == \
                    (grpc.StatusCode.FAILED_PRECONDITION, "InvalidCacheSecurityGroupState")
                revoked = await stub.RevokeCacheSecurityGroupIngress(pb.RevokeCacheSecurityGroupIngressRequest(
                    cache_security_group_name="web", cidr_ip="198.18.7.0/24"), timeout=5)
                assert list(revoked.cache_security_group.ip_ranges) == []
                events = [e.message for e in await built.events.query(source_identifier="c1")]
                assert "Cache security group web revoked ingress from 198.18.7.0/24" in events
                await stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
                    cache_cluster_id="c1", cache_security_group_names=["default"]), timeout=5)
                await stub.DeleteCacheSecurityGroup(pb.DeleteCacheSecurityGroupRequest(
                    cache_security_group_name="web"), timeout=5)
                assert await built.security_groups.get("web") is None
        finally:
            await built.store.close()
    asyncio.run(scenario())


def test_describe_hosts_says_whether_a_host_enforces_its_security_groups():
    assert firewall_status(None) == {"firewall_status": "pending"}
    assert firewall_status("") == {"firewall_status": "enforced"}
    assert firewall_status("FirewallUnavailable: x") == {"firewall_status": "not-enforced",
                                                        "firewall_message": "FirewallUnavailable: x"}


def test_a_cidr_is_kept_in_one_spelling_and_names_are_matched_whole():
    assert sg.cidr("2001:db8::/32") == "2001:db8::/32"
    assert sg.cidr("10.0.0.0/8") == "10.0.0.0/8"
    for bad in ("10.0.0.1/8", "10.0.0.0/8 ", "/8", ""):
        with pytest.raises(sg.ApiError):
            sg.cidr(bad)
    assert sg.names_of(["Web", "db"]) == ["web", "db"]
    with pytest.raises(sg.ApiError, match="InvalidParameterValue"):
        sg.names_of(["web\n"])
    assert sg.effective([]) == ["default"]


# -- what each host is sent ---------------------------------------------------------------------

def test_each_node_port_takes_its_clusters_ranges_and_a_memcached_config_port_the_same():
    groups = {"default": sg.SecurityGroup("default", "d", ["127.0.0.0/8"]),
              "web": sg.SecurityGroup("web", "w", ["198.18.1.0/24", "10.0.0.0/8"]),
              "ops": sg.SecurityGroup("ops", "o", ["10.0.0.0/8"])}
    clusters = [cluster("r1", ["web", "ops"]), cluster("m1", [], "h2", "10.0.0.2", "memcached", 11211, 11212),
                cluster("gone", ["deleted-meanwhile"], "h2", "10.0.0.2", port=6380)]
    assert cidrs_of(clusters[0], groups) == ("10.0.0.0/8", "198.18.1.0/24")
    wanted = ports_by_host(clusters, groups)
    assert [(p.address, p.port, p.cidrs) for p in wanted["h1"]] == [("10.0.0.1", 6379, ("10.0.0.0/8", "198.18.1.0/24"))]
    assert [(p.port, p.cidrs) for p in wanted["h2"]] == [(6380, ()), (11211, ("127.0.0.0/8",)),
                                                         (11212, ("127.0.0.0/8",))]
    assert fleet_sources(["10.0.0.2", "10.0.0.1", "10.0.0.1"]) == ["10.0.0.1/32", "10.0.0.2/32"]
    assert fleet_sources(["127.0.1.1", "::1"]) == ["127.0.0.1/32", "127.0.1.1/32", "::1/128"]


def test_a_revoke_reaches_every_host_in_the_next_cycle_and_a_host_that_cannot_enforce_says_so(tmp_path):
    async def scenario(c: Cycles) -> None:
        groups = c.reconciler.firewall.groups
        c.reconciler.firewall.pushes.clock = c.clock        # retries are timed on the hand-moved clock
        await groups.ensure_default(0.0)
        await groups.mutate("default", lambda g: g.cidrs.append("198.18.9.0/24"))
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1", "h2")
        for host_id in ("h1", "h2"):
            sent = c.agents.host(host_id).firewall
            assert [list(p.cidrs) for p in sent.ports] == [["198.18.9.0/24"], ["198.18.9.0/24"]]
            assert list(sent.fleet_sources) == ["10.0.0.1/32", "10.0.0.2/32"]
        assert await c.cycle() == "no action"                # unchanged: not sent again
        await groups.mutate("default", lambda g: g.cidrs.remove("198.18.9.0/24"))
        assert await c.cycle() == "firewall set on h1 (2 port(s)); firewall set on h2 (2 port(s))"
        assert [list(p.cidrs) for p in c.agents.host("h1").firewall.ports] == [[], []]

        c.agents.host("h2").firewall_unavailable = "nft: Operation not permitted"
        await groups.mutate("default", lambda g: g.cidrs.append("198.18.10.0/24"))
        assert await c.cycle() == ("firewall set on h1 (2 port(s)); "
                                   "firewall on h2 NOT enforced: FirewallUnavailable: nft: Operation not permitted")
        warning = "Cache security groups are NOT enforced on this host: FirewallUnavailable: nft: Operation not permitted"
        assert await c.messages("h2") == [warning]
        assert c.registry.firewall == {"h1": "", "h2": "FirewallUnavailable: nft: Operation not permitted"}
        c.clock.now += 1.5                                   # past the retry: asked again, said once
        await c.cycle()
        assert (await c.messages("h2")).count(warning) == 1
        c.agents.host("h2").firewall_unavailable = ""
        c.clock.now += 1.5
        assert await c.cycle() == "firewall set on h2 (2 port(s))"
        assert (await c.messages("h2"))[-1] == "Cache security groups are enforced again on this host"
        assert c.registry.firewall == {"h1": "", "h2": ""}
    run(tmp_path, scenario)


# -- the agent's rules ----------------------------------------------------------------------------

def test_the_agent_writes_one_batch_that_replaces_its_table_and_drops_all_but_the_allowed():
    request = agent_pb.SetFirewallRequest(
        ports=[agent_pb.FirewallPort(address="198.18.0.1", port=6379, cidrs=["10.0.0.0/8", "10.1.0.0/16", "fd00::/8"]),
               agent_pb.FirewallPort(address="fd00::1", port=11211)],
        fleet_sources=["198.18.0.1/32", "198.18.0.2/32"])
    found = guards(request)
    assert [str(n) for n in found[0].allowed] == ["10.0.0.0/8", "198.18.0.1/32", "198.18.0.2/32"]
    assert found[1].allowed == ()
    batch = ruleset("cachefleet", found)["nftables"]
    assert [next(iter(c)) for c in batch[:3]] == ["add", "delete", "add"]   # created, emptied, rewritten: atomic
    rules = [c["add"]["rule"]["expr"] for c in batch if "rule" in c.get("add", {})]
    assert rules[0][-1] == {"drop": None} and rules[0][2]["match"]["op"] == "!="
    assert len(rules[1]) == 3                                # no range at all: the port is shut to all
    json.dumps(batch)
    for bad in (agent_pb.FirewallPort(address="198.18.0.1", port=0),
                agent_pb.FirewallPort(address="host1", port=6379),
                agent_pb.FirewallPort(address="198.18.0.1", port=6379, cidrs=["10.0.0.1/8"])):
        with pytest.raises(InvalidArgument):
            guards(agent_pb.SetFirewallRequest(ports=[bad]))


def test_the_agent_cuts_established_connections_only_from_sources_a_port_no_longer_takes():
    found = guards(agent_pb.SetFirewallRequest(
        ports=[agent_pb.FirewallPort(address="198.18.0.1", port=6379, cidrs=["198.18.5.0/24"])],
        fleet_sources=["198.18.0.2/32"]))
    listed = "\n".join([
        "0      0      198.18.0.1:6379    198.18.5.7:40000",    # authorized
        "0      0      198.18.0.1:6379    198.18.6.7:40001",    # revoked
        "0      0      198.18.0.1:6379    198.18.0.2:40002",    # a fleet host
        "0      0      198.18.0.1:6380    198.18.6.7:40003",    # another port: not ours
        "0      0      [::ffff:198.18.0.1]:6379    [::ffff:198.18.6.8]:40004",
        "garbage"])
    assert refused_connections(listed, found) == [("198.18.0.1:6379", "198.18.6.7:40001"),
                                                  ("[::ffff:198.18.0.1]:6379", "[::ffff:198.18.6.8]:40004")]

