"""Reconcile cycles driven one at a time, in-process: the real Reconciler (and its
GroupReconciler) on a real SQLite store, host registry, event log and DNS backend, with hosts
simulated by FakeAgentClients. Each test asserts the sentence a cycle returns, which is what
the coordinator logs, and what a user then sees: records, events, published names, what the
hosts run. Heartbeats go through the HostRegistry servicer, as agents send them; host loss is
driven by the registry's clock, never by sleeping.
"""
from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cachefleet.v1 import node_agent_pb2 as agent_pb

from cachefleet.common.tls import nodecerts
from cachefleet.common.tls.fleetca import CertificateAuthority, init_ca

from coordinator.api.registry import HostRegistryService
from coordinator.dns import NoopBackend
from coordinator.domain.heartbeat_pace import FleetPace, Pace
from coordinator.domain.model import (Cluster, ClusterStatus, GroupStatus, Node, NodeStatus, ReplicationGroup)
from coordinator.reconcile.certificates import NodeSigner
from coordinator.reconcile.clusters import CLUSTERS_AT_ONCE, ORPHANS_PER_HOST, Reconciler
from coordinator.state.events import EventLog
from coordinator.state.registry import HostRegistry
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.state.store import SqliteStore
from tests.helpers.fake_agents import FakeAgentClients
from tests.helpers.clock import HandClock

ZONE = "cachefleet.internal"
HOST_TIMEOUT = 5.0
ADDRESSES = {"h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"}
UP, DOWN = agent_pb.LINK_STATE_UP, agent_pb.LINK_STATE_DOWN


class Coordinator:
    """The reconciler and what it works with, put together as coordinator/server.py does."""

    def __init__(self, store: SqliteStore, signer: NodeSigner | None = None) -> None:
        self.store = store
        self.clock = HandClock(1000.0)
        self.registry = HostRegistry(store, HOST_TIMEOUT, monotonic=self.clock,
                                     pace=FleetPace(Pace(interval=1.0, lease=3.0, host_timeout=HOST_TIMEOUT)))
        self.events = EventLog(store)
        self.agents = FakeAgentClients()
        self.dns = NoopBackend(ZONE)
        self.clusters, self.groups = ClusterRepo(store), GroupRepo(store)
        self.reconciler = Reconciler(self.clusters, self.groups, self.registry, self.agents, self.events, self.dns,
                                     signer=signer)
        self.heartbeats = HostRegistryService(self.registry, self.reconciler.wake,
                                              writable=lambda host_id: self.reconciler.writable.get(host_id, []))

    async def cycle(self) -> str:
        sentence = await self.reconciler.run_cycle()
        await self.check_shared_records_unchanged()
        return sentence

    async def check_shared_records_unchanged(self) -> None:
        """The records a cycle reads are shared with other readers (Repository.shared): no step may
        change one in place. Each cached at the store's current revision still equals its record."""
        for repo in (self.clusters, self.groups):
            for key, (revision, decoded) in repo._shared.items():
                rec = await SqliteStore.get(self.store, key)   # not a read the test under way counts
                if rec is not None and rec.revision == revision:
                    assert decoded == repo._decode(rec.value), f"{key} was changed in place"

    async def start_hosts(self, *host_ids: str) -> None:
        for host_id in host_ids:
            self.agents.add_host(host_id, ADDRESSES[host_id])
            await self.heartbeat(host_id)

    async def heartbeat(self, *host_ids: str) -> dict[str, list[str]]:
        """Each host reports what it runs; returns the writable primaries each is told of."""
        answers = {}
        for host_id in host_ids:
            reply = await self.heartbeats.Heartbeat(self.agents.heartbeat_request(host_id), None)
            answers[host_id] = list(reply.writable_primaries)
        return answers

    async def serve(self, *host_ids: str) -> None:
        """The hosts' engines come up and the hosts say so in their next heartbeat."""
        for host_id in host_ids:
            self.agents.serve(host_id)
        await self.heartbeat(*host_ids)

    async def messages(self, source: str) -> list[str]:
        return [e.message for e in await self.events.query(source_identifier=source)]

    def names(self) -> dict[str, tuple[str, ...]]:
        return dict(self.dns.published or {})


def run(tmp_path, scenario: Callable[[Coordinator], Awaitable[None]], signer: NodeSigner | None = None) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "state.db")
        try:
            await scenario(Coordinator(store, signer))
        finally:
            await store.close()
    asyncio.run(main())


def memcached(cluster_id: str, *host_ids: str) -> Cluster:
    """A memcached cluster as CreateCacheCluster records it: one creating node on each host."""
    nodes = {f"{i:04d}": Node(f"{i:04d}", NodeStatus.CREATING, host_id, "zone-a", ADDRESSES[host_id])
             for i, host_id in enumerate(host_ids, 1)}
    return Cluster(cluster_id, "memcached", "1.6.18", "cache.t1.micro", 11211, nodes=nodes,
                   next_node_seq=len(nodes) + 1, config_port=11212)


async def available_memcached(c: Coordinator, cluster_id: str, *host_ids: str) -> None:
    """A memcached cluster created and served on its hosts, its creation cycles behind it."""
    await c.clusters.create(memcached(cluster_id, *host_ids))
    await c.cycle()
    await c.serve(*host_ids)
    await c.cycle()
    assert (await c.clusters.get(cluster_id)).status == ClusterStatus.AVAILABLE


async def available_group(c: Coordinator) -> None:
    """Group g1: primary g1-001 on h1, replicas g1-002 on h2 and g1-003 on h3, all in sync."""
    await c.start_hosts("h1", "h2", "h3")
    members = [Cluster(f"g1-00{i}", "redis", "7.0.15", "cache.t1.micro", 6379, replication_group_id="g1",
                       nodes={"0001": Node("0001", NodeStatus.CREATING, h, "zone-a", ADDRESSES[h])}, next_node_seq=2)
               for i, h in enumerate(("h1", "h2", "h3"), 1)]
    group = ReplicationGroup("g1", "for tests", "g1-001", [m.cluster_id for m in members], automatic_failover=True,
                             node_type="cache.t1.micro", engine_version="7.0.15", port=6379, next_member_seq=4)
    assert await c.groups.create(group, members)
    await c.cycle()
    c.agents.serve("h1")
    c.agents.serve("h2")
    c.agents.serve("h3")
    c.agents.replicate("h2", "g1-002-0001", 100, UP)
    c.agents.replicate("h3", "g1-003-0001", 100, UP)
    await c.heartbeat("h1", "h2", "h3")
    await c.cycle()
    assert await c.cycle() == "g1: Replication group created"


# -- creating ------------------------------------------------------------------------------------

def test_a_new_cluster_has_each_node_ensured_on_its_host(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await c.clusters.create(memcached("c1", "h1", "h2"))

        assert await c.cycle() == ("firewall set on h1 (2 port(s)); firewall set on h2 (2 port(s)); "
                                   "ensured c1-0001 on h1; ensured c1-0002 on h2; "
                                   "discovery endpoints set on h1 (0); discovery endpoints set on h2 (0)")
        assert c.agents.calls_of("ensure_node") == [("h1", "c1-0001"), ("h2", "c1-0002")]
        spec = c.agents.host("h1").nodes["c1-0001"].spec
        assert (spec.engine, spec.engine_version, spec.port, spec.bind_address) == \
            ("memcached", "1.6.18", 11211, "10.0.0.1")
        cluster = await c.clusters.get("c1")
        assert cluster.status == ClusterStatus.CREATING
        assert {n.status for n in cluster.nodes.values()} == {NodeStatus.CREATING}
    run(tmp_path, scenario)


def test_nodes_still_starting_are_not_asked_again_and_the_cluster_stays_creating(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        await c.clusters.create(memcached("c1", "h1"))
        await c.cycle()
        await c.heartbeat("h1")

        assert await c.cycle() == "no action"
        assert c.agents.calls_of("ensure_node") == [("h1", "c1-0001")]
        assert (await c.clusters.get("c1")).status == ClusterStatus.CREATING
        assert await c.messages("c1") == []
    run(tmp_path, scenario)


def test_a_cluster_becomes_available_once_its_hosts_report_its_nodes_serving(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await c.clusters.create(memcached("c1", "h1", "h2"))
        await c.cycle()
        await c.serve("h1", "h2")

        assert await c.cycle() == (
            "c1: Added cache node 0001 in availability zone zone-a; "
            "c1: Added cache node 0002 in availability zone zone-a; c1: Cache cluster created; "
            "c1: discovery version 1; discovery endpoints set on h1 (1); discovery endpoints set on h2 (1)")
        cluster = await c.clusters.get("c1")
        assert cluster.status == ClusterStatus.AVAILABLE
        assert {n.status for n in cluster.nodes.values()} == {NodeStatus.AVAILABLE}
        assert await c.messages("c1") == ["Added cache node 0001 in availability zone zone-a",
                                          "Added cache node 0002 in availability zone zone-a", "Cache cluster created"]
        assert c.names() == {"0001.c1.cachefleet.internal": ("10.0.0.1",), "0002.c1.cachefleet.internal": ("10.0.0.2",),
                             "c1.cfg.cachefleet.internal": ("10.0.0.1", "10.0.0.2")}
        assert list(c.agents.host("h2").discovery.endpoints[0].nodes) == [
            agent_pb.DiscoveryNode(host="0001.c1.cachefleet.internal", ip="10.0.0.1", port=11211),
            agent_pb.DiscoveryNode(host="0002.c1.cachefleet.internal", ip="10.0.0.2", port=11211)]
    run(tmp_path, scenario)


def test_a_settled_fleet_is_left_alone(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1", "h2")
        calls = list(c.agents.calls)
        await c.heartbeat("h1", "h2")

        assert await c.cycle() == "no action"
        assert await c.cycle() == "no action"
        assert c.agents.calls == calls
        assert await c.messages("c1") == ["Added cache node 0001 in availability zone zone-a",
                                          "Added cache node 0002 in availability zone zone-a", "Cache cluster created"]
    run(tmp_path, scenario)


# -- deleting ------------------------------------------------------------------------------------

def test_a_deleting_cluster_has_its_nodes_removed_and_its_record_dropped(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1", "h2")
        await c.clusters.mutate("c1", lambda cluster: setattr(cluster, "status", ClusterStatus.DELETING))

        assert await c.cycle() == ("removed c1-0001 from h1; removed c1-0002 from h2; deleted cluster c1; "
                                   "firewall cleared on h1; firewall cleared on h2; "
                                   "discovery endpoints set on h1 (0); discovery endpoints set on h2 (0)")
        assert await c.clusters.get("c1") is None
        assert c.agents.calls_of("remove_node") == [("h1", "c1-0001"), ("h2", "c1-0002")]
        assert c.agents.removals == [("h1", "c1-0001", True), ("h2", "c1-0002", True)]   # the user's deletion
        assert c.agents.host("h1").nodes == {} and c.agents.host("h2").nodes == {}
        assert (await c.messages("c1"))[-1] == "Cache cluster deleted"
        assert c.names() == {}
        await c.heartbeat("h1", "h2")
        assert await c.cycle() == "no action"
    run(tmp_path, scenario)


def test_a_deleting_cluster_whose_host_is_lost_is_dropped_without_calling_it(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        await available_memcached(c, "c1", "h1")
        await c.clusters.mutate("c1", lambda cluster: setattr(cluster, "status", ClusterStatus.DELETING))
        c.clock.now += HOST_TIMEOUT + 1

        assert await c.cycle() == "host h1 lost; deleted cluster c1"
        assert await c.clusters.get("c1") is None
        assert c.agents.calls_of("remove_node") == []
    run(tmp_path, scenario)


# -- losing a host -------------------------------------------------------------------------------

def test_a_host_heard_from_within_its_timeout_is_not_lost(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1")
        c.clock.now += HOST_TIMEOUT

        assert await c.cycle() == "no action"
        assert c.registry.is_live("h1")
        assert await c.messages("h1") == []
    run(tmp_path, scenario)


def test_a_silent_hosts_node_is_recreated_on_another_host(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")

        assert await c.cycle() == ("host h1 lost; placed c1-0001 on h2; firewall set on h2 (2 port(s)); "
                                   "ensured c1-0001 on h2; c1: discovery version 2; discovery endpoints set on h2 (1)")
        assert await c.messages("h1") == ["Host h1 lost: no heartbeat for 5.0 s"]
        assert (await c.messages("c1"))[-1] == "Recovering cache nodes 0001 on host h2"
        node = (await c.clusters.get("c1")).nodes["0001"]
        assert (node.status, node.host_id, node.address) == (NodeStatus.RECOVERING, "h2", "10.0.0.2")
        assert c.names()["0001.c1.cachefleet.internal"] == ("10.0.0.2",)

        await c.serve("h2")
        assert await c.cycle() == "c1: Finished recovery for cache nodes 0001"
        assert (await c.clusters.get("c1")).nodes["0001"].status == NodeStatus.AVAILABLE
    run(tmp_path, scenario)


def test_a_lost_hosts_node_with_no_room_elsewhere_is_marked_failed_once(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1", "h2")    # all of a cluster's nodes share one port
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")

        assert await c.cycle() == "host h1 lost; no host for c1-0001"
        cluster = await c.clusters.get("c1")
        assert cluster.status == ClusterStatus.AVAILABLE
        assert cluster.nodes["0001"].status == NodeStatus.FAILED
        assert cluster.nodes["0001"].message.startswith("No host has an address with port 11211 free")
        assert (await c.messages("c1"))[-1].startswith("Cache node 0001 could not be recovered: No host has")
        assert await c.cycle() == "no action"
        assert await c.messages("h1") == ["Host h1 lost: no heartbeat for 5.0 s"]
    run(tmp_path, scenario)


def test_a_lost_host_that_calls_back_has_its_moved_engine_removed(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        await available_memcached(c, "c1", "h1")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")
        await c.cycle()                                    # c1-0001 now lives on h2

        await c.heartbeat("h1")                            # still running its old c1-0001
        assert await c.cycle() == ("firewall cleared on h1; removed orphan c1-0001 from h1; "
                                   "discovery endpoints set on h1 (0)")
        assert c.agents.host("h1").nodes == {}
        assert "c1-0001" in c.agents.host("h2").nodes
    run(tmp_path, scenario)


# -- replication groups --------------------------------------------------------------------------

def test_a_replica_is_promoted_when_the_primarys_engine_fails(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        assert (await c.heartbeat("h1", "h2"))["h1"] == ["g1-001-0001"]
        c.agents.fail("h1", "g1-001-0001", "exited with status 1")
        c.agents.replicate("h2", "g1-002-0001", 400, DOWN)
        c.agents.replicate("h3", "g1-003-0001", 500, DOWN)     # furthest ahead
        await c.heartbeat("h1", "h2", "h3")

        # the new primary gets its role first, before the other members of the cycle
        assert await c.cycle() == ("g1: promoted g1-003 after primary g1-001 failed; ensured g1-003-0001 on h3; "
                                   "ensured g1-001-0001 on h1; ensured g1-002-0001 on h2")
        group = await c.groups.get("g1")
        assert (group.primary, group.epoch, group.status) == ("g1-003", 1, GroupStatus.AVAILABLE)
        assert await c.messages("g1") == ["Replication group created",
                                          "Failover from primary node g1-001-0001 to replica node g1-003-0001 completed",
                                          "Recovering cache nodes g1-001-0001"]
        assert (await c.clusters.get("g1-001")).nodes["0001"].status == NodeStatus.RECOVERING
        roles = {h: c.agents.host(h).nodes[f"g1-00{i}-0001"].spec for i, h in enumerate(("h1", "h2", "h3"), 1)}
        assert roles["h3"].role == agent_pb.ROLE_PRIMARY
        assert (roles["h1"].role, roles["h1"].primary_address) == (agent_pb.ROLE_REPLICA, "10.0.0.3")
        assert (roles["h2"].role, roles["h2"].primary_address) == (agent_pb.ROLE_REPLICA, "10.0.0.3")
        assert await c.heartbeat("h1", "h2", "h3") == {"h1": [], "h2": [], "h3": ["g1-003-0001"]}
    run(tmp_path, scenario)


def test_each_replicas_link_is_written_into_the_group_when_it_changes_for_coordinators_that_do_not_lead(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        assert (await c.groups.get("g1")).links == {"g1-002": "up", "g1-003": "up"}
        revision = await c.groups.revision("g1")
        await c.heartbeat("h1", "h2", "h3")
        await c.cycle()
        assert await c.groups.revision("g1") == revision, "an unchanged link is not written again"
        c.agents.replicate("h3", "g1-003-0001", 100, DOWN)
        await c.heartbeat("h1", "h2", "h3")
        assert await c.cycle() == "g1: Replication link of replica node g1-003-0001 to its primary is broken"
        assert (await c.groups.get("g1")).links == {"g1-002": "up", "g1-003": "down"}
    run(tmp_path, scenario)


def test_a_failover_waits_for_a_replica_that_still_reports_its_link_up(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        ensured = c.agents.calls_of("ensure_node").count(("h1", "g1-001-0001"))
        c.agents.fail("h1", "g1-001-0001", "exited with status 1")
        c.agents.replicate("h3", "g1-003-0001", 500, DOWN)   # g1-002 was probed before the death
        await c.heartbeat("h1", "h3")

        assert await c.cycle() == "g1-001: Cache node 0001 failed: exited with status 1"
        assert (await c.groups.get("g1")).primary == "g1-001"
        assert c.agents.calls_of("ensure_node").count(("h1", "g1-001-0001")) == ensured   # never restarted empty

        c.agents.replicate("h2", "g1-002-0001", 400, DOWN)
        await c.heartbeat("h2")
        assert (await c.cycle()).startswith("g1: promoted g1-003 after primary g1-001 failed")
    run(tmp_path, scenario)


def test_the_old_primary_rejoins_as_a_replica_of_the_promoted_one(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        c.agents.fail("h1", "g1-001-0001", "exited with status 1")
        c.agents.replicate("h2", "g1-002-0001", 500, DOWN)
        c.agents.replicate("h3", "g1-003-0001", 400, DOWN)
        await c.heartbeat("h1", "h2", "h3")
        assert (await c.cycle()).startswith("g1: promoted g1-002 after primary g1-001 failed; ")

        c.agents.serve("h1")
        c.agents.replicate("h1", "g1-001-0001", 500, UP)
        c.agents.replicate("h3", "g1-003-0001", 500, UP)
        await c.heartbeat("h1", "h2", "h3")
        # the new primary has healthy replicas again: it guards its writes with them
        assert await c.cycle() == "g1-001: Finished recovery for cache nodes 0001; ensured g1-002-0001 on h2"
        assert c.agents.host("h2").nodes["g1-002-0001"].spec.write_guard
        assert (await c.clusters.get("g1-001")).nodes["0001"].status == NodeStatus.AVAILABLE
        assert (await c.messages("g1"))[-1] == "Finished recovery for cache nodes g1-001-0001"
        assert await c.cycle() == "no action"
    run(tmp_path, scenario)


def test_a_group_without_automatic_failover_holds_its_replicas_read_only(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        await c.groups.change("g1", lambda g, members: setattr(g, "automatic_failover", False),
                              lambda group_id: AssertionError(group_id))
        c.agents.fail("h1", "g1-001-0001", "exited with status 1")
        c.agents.replicate("h2", "g1-002-0001", 500, DOWN)
        await c.heartbeat("h1", "h2")

        sentence = await c.cycle()
        assert sentence.startswith("g1: Primary node g1-001-0001 failed; automatic failover is disabled, ")
        group = await c.groups.get("g1")
        assert (group.primary, group.primary_failed) == ("g1-001", True)
        assert await c.heartbeat("h1", "h2", "h3") == {"h1": [], "h2": [], "h3": []}
    run(tmp_path, scenario)


def standalone_redis(cluster_id: str, host_id: str) -> Cluster:
    """A standalone redis cluster as CreateCacheCluster records it: one creating node."""
    node = Node("0001", NodeStatus.CREATING, host_id, "zone-a", ADDRESSES[host_id])
    return Cluster(cluster_id, "redis", "7.0.15", "cache.t1.micro", 6379, nodes={"0001": node}, next_node_seq=2)


async def available_standalone_redis(c: Coordinator, cluster_id: str, host_id: str, *others: str) -> None:
    """Hosts started, and a standalone redis cluster created and served on `host_id`."""
    await c.start_hosts(host_id, *others)
    await c.clusters.create(standalone_redis(cluster_id, host_id))
    await c.cycle()
    await c.serve(host_id)
    await c.cycle()
    assert (await c.clusters.get(cluster_id)).status == ClusterStatus.AVAILABLE


def test_a_standalone_redis_node_waits_on_its_lost_host_and_is_recreated_empty_only_after_the_grace(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_standalone_redis(c, "r1", "h1", "h2")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")

        assert await c.cycle() == "host h1 lost"        # its data is only there: it is not re-created yet
        c.clock.now += c.reconciler.standalone_replace_after - 1
        await c.heartbeat("h2")
        assert await c.cycle() == "no action"
        assert (await c.clusters.get("r1")).nodes["0001"].host_id == "h1"

        c.clock.now += 2                                 # the grace is over
        await c.heartbeat("h2")
        assert (await c.cycle()).startswith("placed r1-0001 on h2; firewall set on h2 (1 port(s)); ensured r1-0001 on h2")
        assert (await c.messages("r1"))[-2:] == [
            "Recovering cache nodes 0001 on host h2",
            "Cache node 0001 re-created empty on host h2: its data was only on host h1, lost 301 s ago, "
            "and is not recovered"]
    run(tmp_path, scenario)


def test_a_standalone_redis_node_whose_host_calls_back_within_the_grace_stays_with_its_data(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_standalone_redis(c, "r1", "h1", "h2")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")
        assert await c.cycle() == "host h1 lost"
        c.clock.now += 5
        await c.heartbeat("h1", "h2")                    # a blip: the host was only quiet
        assert await c.cycle() == "no action"
        cluster = await c.clusters.get("r1")
        assert (cluster.nodes["0001"].host_id, cluster.nodes["0001"].status) == ("h1", NodeStatus.AVAILABLE)
        assert not any("re-created" in m for m in await c.messages("r1"))
        assert [key for _, key in c.agents.calls_of("ensure_node")].count("r1-0001") == 1   # only its creation
    run(tmp_path, scenario)


def test_a_standalone_redis_node_recreated_elsewhere_has_its_old_data_set_aside_when_its_host_calls_back(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_standalone_redis(c, "r1", "h1", "h2")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")
        await c.cycle()
        c.clock.now += c.reconciler.standalone_replace_after + 1
        await c.heartbeat("h2")
        await c.cycle()                                  # re-created empty on h2
        await c.serve("h2")
        await c.cycle()

        await c.heartbeat("h1")                          # h1 is back, still running its old r1-0001
        event = ("Data of cache node 0001 on host h1 set aside at /agents/h1/set-aside/r1-0001-T (not deleted): "
                 "the node was re-created on host h2 while its host was away")
        assert await c.cycle() == f"firewall cleared on h1; removed orphan r1-0001 from h1; r1: {event}"
        assert c.agents.removals == [("h1", "r1-0001", False)]
        assert (await c.messages("r1"))[-1] == event
        assert "r1-0001" in c.agents.host("h2").nodes
    run(tmp_path, scenario)


def test_a_cluster_deleted_while_its_host_was_away_keeps_its_data_set_aside_there(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_standalone_redis(c, "r1", "h1", "h2")
        c.clock.now += HOST_TIMEOUT + 1
        await c.heartbeat("h2")
        await c.cycle()
        await c.clusters.mutate("r1", lambda cluster: setattr(cluster, "status", ClusterStatus.DELETING))
        assert await c.cycle() == "deleted cluster r1"   # nothing to call: its host is lost

        await c.heartbeat("h1", "h2")
        assert (await c.cycle()).startswith("firewall cleared on h1; removed orphan r1-0001 from h1; "
                                            "r1: Data of cache node 0001 on host h1 "
                                            "set aside at /agents/h1/set-aside/r1-0001-T (not deleted): "
                                            "its cache cluster no longer exists")
        assert c.agents.removals == [("h1", "r1-0001", False)]
    run(tmp_path, scenario)


def test_a_restarted_coordinator_grants_no_lease_before_it_knows_its_primaries(tmp_path):
    """The first heartbeats after a restart would otherwise be told of no writable primary,
    which fences every primary of the fleet for a moment."""
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        restarted = Reconciler(c.clusters, c.groups, c.registry, c.agents, c.events, c.dns)
        heartbeats = HostRegistryService(c.registry, restarted.wake,
                                         writable=lambda host_id: restarted.writable.get(host_id, []),
                                         roles_known=restarted.roles_known)
        answer = asyncio.create_task(heartbeats.Heartbeat(c.agents.heartbeat_request("h1"), None))
        await asyncio.sleep(0.05)
        assert not answer.done()          # it waits for the roles rather than answer "none"
        await restarted.run_cycle()
        assert list((await answer).writable_primaries) == ["g1-001-0001"]
    run(tmp_path, scenario)


def test_a_primary_cut_off_from_its_replicas_is_fenced_through_its_agent_then_replaced(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        assert c.agents.host("h1").nodes["g1-001-0001"].spec.write_guard
        for host, key in (("h2", "g1-002-0001"), ("h3", "g1-003-0001")):   # links still "up": repl-timeout
            c.agents.lose_sight(host, key, 4000)
        await c.heartbeat("h1", "h2", "h3")
        assert await c.cycle() == "g1: fencing primary g1-001, cut off from its replicas, before a failover; " \
                                  "ensured g1-001-0001 on h1"
        assert c.agents.host("h1").nodes["g1-001-0001"].spec.write_fenced
        assert (await c.heartbeat("h1"))["h1"] == [], "no longer a writable primary"
        await c.heartbeat("h1", "h2", "h3")
        assert (await c.cycle()).startswith("g1: promoted g1-002 after primary g1-001 was cut off from its replicas; ")
        group = await c.groups.get("g1")
        assert (group.primary, group.epoch) == ("g1-002", 1)
        assert c.agents.host("h1").nodes["g1-001-0001"].spec.role == agent_pb.ROLE_REPLICA
    run(tmp_path, scenario)


def test_a_cut_that_heals_before_the_failover_gives_the_primary_its_writes_back(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        for host, key in (("h2", "g1-002-0001"), ("h3", "g1-003-0001")):
            c.agents.lose_sight(host, key, 4000)
        await c.heartbeat("h1", "h2", "h3")
        assert (await c.cycle()).startswith("g1: fencing primary g1-001")
        for host, key in (("h2", "g1-002-0001"), ("h3", "g1-003-0001")):
            c.agents.host(host).nodes[key].replication.primary_sight = agent_pb.PRIMARY_SIGHT_SEEN
        await c.heartbeat("h1", "h2", "h3")
        assert await c.cycle() == "ensured g1-001-0001 on h1"
        assert not c.agents.host("h1").nodes["g1-001-0001"].spec.write_fenced
        assert (await c.heartbeat("h1"))["h1"] == ["g1-001-0001"]
        assert (await c.groups.get("g1")).primary == "g1-001"
    run(tmp_path, scenario)


def test_a_host_reporting_many_made_up_nodes_to_an_agent_that_hangs_holds_a_cycle_up_for_one_call(tmp_path):
    """Each orphan a host reports is a RemoveNode to that host; a host that reports thousands of
    made-up nodes and lets each call run to its deadline must not hold up the cycle (and every
    other cluster's failover) for thousands of deadlines: a few removals a host a cycle, at once."""
    hang_s = 0.05

    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        host = c.agents.host("h1")
        for i in range(200):
            key = f"ghost{i}-0001"
            host.nodes[key] = agent_pb.NodeState(node_key=key, status=agent_pb.NODE_STATUS_AVAILABLE)
        removing = c.agents.remove_node

        async def hanging(endpoint: str, node_key: str, discard_data: bool) -> agent_pb.RemoveNodeResponse:
            await asyncio.sleep(hang_s)
            return await removing(endpoint, node_key, discard_data)
        c.agents.remove_node = hanging
        await c.heartbeat("h1")
        started = asyncio.get_running_loop().time()
        sentence = await c.cycle()
        assert asyncio.get_running_loop().time() - started < 10 * hang_s
        assert sentence.count("removed orphan") == len(c.agents.removals) == ORPHANS_PER_HOST
        await c.heartbeat("h1")
        assert (await c.cycle()).count("removed orphan") == ORPHANS_PER_HOST     # the next few, next cycle
    run(tmp_path, scenario)


# -- TLS in transit --------------------------------------------------------------------------------

def test_a_tls_node_gets_a_certificate_for_its_hosts_key_keeps_it_and_gets_a_new_one_when_due(tmp_path):
    init_ca(tmp_path / "ca")
    signer = NodeSigner(tmp_path / "ca")

    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        cluster = memcached("t1", "h1")
        cluster.transit_encryption_mode = "required"
        await c.clusters.create(cluster)
        await c.cycle()
        assert c.agents.calls_of("request_certificate") == [("h1", "t1-0001")]
        spec = c.agents.host("h1").nodes["t1-0001"].spec
        cert = x509.load_pem_x509_certificate(spec.transit_encryption.cert_pem.encode())
        key = serialization.load_pem_private_key(c.agents.host("h1").tls_keys["t1-0001"], password=None)
        assert cert.public_key().public_numbers() == key.public_key().public_numbers()
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {"0001.t1.cachefleet.internal", "t1.cfg.cachefleet.internal"} <= \
            set(names.get_values_for_type(x509.DNSName))
        assert spec.transit_encryption.mode == agent_pb.TRANSIT_ENCRYPTION_MODE_REQUIRED
        await c.serve("h1")
        await c.cycle()
        await c.cycle()
        assert c.agents.calls_of("request_certificate") == [("h1", "t1-0001")]     # kept while good
        assert (await c.clusters.get("t1")).status == ClusterStatus.AVAILABLE
        # the node reports a certificate 70 days old (20 days left): signed again, same key
        old = nodecerts.sign_node(CertificateAuthority.load(tmp_path / "ca"), nodecerts.csr_pem(c.agents.host("h1").tls_keys["t1-0001"], "x"),
                                  "t1-0001", ["0001.t1.cachefleet.internal", "t1.cfg.cachefleet.internal", "10.0.0.1"],
                                  now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=70))
        c.agents.host("h1").nodes["t1-0001"].spec.transit_encryption.cert_pem = old
        await c.heartbeat("h1")
        assert await c.cycle() == "ensured t1-0001 on h1"
        assert c.agents.calls_of("request_certificate") == [("h1", "t1-0001")] * 2
        assert c.agents.host("h1").nodes["t1-0001"].spec.transit_encryption.cert_pem != old
    run(tmp_path, scenario, signer)


def test_a_coordinator_without_the_nodes_ca_leaves_running_tls_nodes_as_they_are(tmp_path):
    init_ca(tmp_path / "ca")

    async def with_ca(c: Coordinator) -> None:      # a node made while the CA was given
        await c.start_hosts("h1")
        cluster = memcached("t1", "h1")
        cluster.transit_encryption_mode = "required"
        await c.clusters.create(cluster)
        await c.cycle()
        await c.serve("h1")
        await c.cycle()
        running = c.agents.host("h1").nodes["t1-0001"].spec

        # the same fleet, its coordinator restarted without --node-ca-dir
        without = Reconciler(c.clusters, c.groups, c.registry, c.agents, c.events, c.dns)
        calls = len(c.agents.calls)
        await without.run_cycle()
        await without.run_cycle()
        assert [m for m, _, _ in c.agents.calls[calls:] if m in ("ensure_node", "request_certificate")] == []
        assert c.agents.host("h1").nodes["t1-0001"].spec == running
    run(tmp_path, with_ca, NodeSigner(tmp_path / "ca"))


def test_a_cycle_over_settled_clusters_reads_no_record_one_by_one_and_writes_nothing(tmp_path):
    """Each cycle lists the clusters once; a settled one is judged on that listing, so the
    cycle's cost does not grow by a store read and write per cluster of the fleet."""
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        await available_memcached(c, "m1", "h1")
        await c.cycle()
        reads, writes, listings = [], [], []
        get, put, list_range = c.store.get, c.store.put, c.store.list_range

        async def counted_get(key: str):
            reads.append(key)
            return await get(key)

        async def counted_list_range(start: str, end: str, limit: int = 0):
            listings.append(start)
            return await list_range(start, end, limit)

        async def counted_put(key: str, value, expected_revision=None):
            writes.append(key)
            return await put(key, value, expected_revision)
        c.store.get, c.store.put = counted_get, counted_put   # type: ignore[method-assign]
        c.store.list_range = counted_list_range                # type: ignore[method-assign]
        assert await c.cycle() == "no action"
        assert [k for k in reads if k.startswith("clusters/")] == []
        assert listings.count("clusters/") <= 1, "the fleet is read once at most in a cycle that wrote nothing"
        assert writes == []
        c.agents.fail("h1", "m1-0001", "killed")             # a change is still seen and written
        await c.heartbeat("h1")
        await c.cycle()
        assert "clusters/m1" in writes
    run(tmp_path, scenario)


def test_a_cycle_looks_first_at_the_groups_whose_members_reported_a_change(tmp_path):
    """A primary's death reported in a fleet of a thousand groups is decided before the others."""
    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        c.registry.take_changed_nodes()
        c.agents.replicate("h2", "g1-002-0001", 900, UP)    # an offset moved: not a change to act on
        await c.heartbeat("h2")
        assert c.registry.take_changed_nodes() == set() and not c.registry.urgent
        c.agents.fail("h1", "g1-001-0001", "exited with status 1")
        await c.heartbeat("h1")
        assert c.registry.urgent, "a primary stopped serving: a cycle under way leaves its remaining turns"
        clusters = {cl.cluster_id: cl for cl in await c.clusters.all()}
        calls = len(c.agents.calls)
        assert await c.reconciler._reconcile_all(list(clusters.values())) == []
        assert len(c.agents.calls) == calls
        changed = c.registry.take_changed_nodes()
        assert changed == {"g1-001-0001"} and c.registry.take_changed_nodes() == set()
        assert not c.registry.urgent

        seen: list[str] = []

        async def looked_at(group: ReplicationGroup, clusters: dict[str, Cluster]) -> list[str]:
            seen.append(group.group_id)
            return []
        c.reconciler.group_reconciler._reconcile = looked_at   # type: ignore[method-assign]
        earlier = ReplicationGroup("a0", "settled", "a0-001", ["a0-001"])
        groups = [earlier, await c.groups.get("g1")]
        await c.reconciler.group_reconciler.run(groups, clusters)
        await c.reconciler.group_reconciler.run(groups, clusters, changed)
        assert seen == ["a0", "g1", "g1", "a0"]
    run(tmp_path, scenario)


def test_a_cycle_over_settled_clusters_lets_other_work_run_between_its_turns(tmp_path):
    """A settled cluster's turn never waits, so a cycle over thousands would hold the event loop
    (and every heartbeat answer) for its whole length; turns step aside once a slice of time is
    used up. With a slice of 0, at most CLUSTERS_AT_ONCE turns (those side by side) run between
    two looks at the network."""
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        count = CLUSTERS_AT_ONCE + 6
        for i in range(count):
            await c.clusters.create(memcached(f"m{i:03d}", "h1"))
        await c.cycle()
        await c.serve("h1")
        await c.cycle()
        assert await c.cycle() == "no action"
        turns, longest, last = 0, 0, 0
        reconcile = c.reconciler._reconcile

        async def counted(cluster: Cluster) -> list[str]:
            nonlocal turns
            turns += 1
            return await reconcile(cluster)
        c.reconciler._reconcile = counted   # type: ignore[method-assign]

        async def ticker() -> None:       # stands for the heartbeats the loop must answer
            nonlocal longest, last
            while True:
                longest, last = max(longest, turns - last), turns
                await asyncio.sleep(0)
        task = asyncio.create_task(ticker())
        c.reconciler.slice.seconds = 0.0   # every turn steps aside (a time slice is machine-dependent)
        assert await c.reconciler.run_cycle() == "no action"
        task.cancel()
        assert turns == count and longest <= CLUSTERS_AT_ONCE, f"{longest} turns ran without a break"
    run(tmp_path, scenario)


def test_a_settled_node_s_spec_is_built_again_only_after_something_it_depends_on_changed(tmp_path):
    """Over a large fleet most of a cycle is building each node's wanted spec to find it running
    already; a node found current is not built again until its record, role, replicas' records,
    report, the parameter groups, the users or the hosts changed. Other writes (a fleet being
    filled writes all the time) leave it be."""
    from coordinator.domain.users import User
    from coordinator.parameters import ParameterGroupRepo
    from coordinator.parameters.groups import ParameterGroup
    from coordinator.state.repos import UserRepo

    async def scenario(c: Coordinator) -> None:
        await available_group(c)
        await available_memcached(c, "m1", "h1")
        await c.cycle()
        built: list[str] = []
        spec = c.reconciler._spec

        def counted(cluster: Cluster, node: Node):
            built.append(cluster.node_key(node.node_id))
            return spec(cluster, node)
        c.reconciler._spec = counted   # type: ignore[method-assign]
        assert await c.cycle() == "no action"
        assert built == []
        await c.store.put("unrelated/record", {"v": 1})           # a write nothing here is built from
        assert await c.cycle() == "no action"
        assert built == []
        everything = ["g1-001-0001", "g1-002-0001", "g1-003-0001", "m1-0001"]
        assert await ParameterGroupRepo.beside(c.clusters).create(
            ParameterGroup("mine", "redis7", "unused so far", {"maxmemory-policy": "allkeys-lru"}))
        assert await c.cycle() == "no action"
        assert sorted(built) == everything
        built.clear()
        assert await UserRepo(c.store).insert(User("u1", "u1", "on ~* +@all", no_password=True))
        assert await c.cycle() == "no action"
        assert sorted(built) == everything
        built.clear()
        await c.clusters.mutate("g1-003", lambda m: setattr(m, "next_node_seq", 3) or True)   # a replica's record
        assert await c.cycle() == "no action"
        assert sorted(built) == ["g1-001-0001", "g1-003-0001"]    # it, and the primary whose peers it is
        built.clear()
        c.agents.fail("h1", "m1-0001", "killed")                   # its report changed
        await c.heartbeat("h1")
        await c.cycle()
        assert "m1-0001" in built
    run(tmp_path, scenario)


def test_a_slow_firewall_call_holds_up_only_its_own_host_and_a_host_gets_its_rule_sets_in_order(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1", "h2")
        released = asyncio.Event()
        set_firewall = c.agents.set_firewall
        sent_to_h1: list[list[str]] = []

        async def slow_on_h1(endpoint: str, request):
            if c.agents.hosts[endpoint].host_id == "h1":
                sent_to_h1.append(sorted({p.cache_cluster_id for p in request.ports}))
                if len(sent_to_h1) == 1:
                    await released.wait()        # the first call to h1 hangs until released
            return await set_firewall(endpoint, request)
        c.agents.set_firewall = slow_on_h1       # type: ignore[method-assign]
        firewall = c.reconciler.firewall
        first = asyncio.create_task(firewall.guard(memcached("a1", "h1")))

        async def under_way() -> None:           # its call to h1 is under way
            while not sent_to_h1:
                await asyncio.sleep(0)
        await asyncio.wait_for(under_way(), 5)
        second = asyncio.create_task(firewall.guard(memcached("a2", "h1")))
        await asyncio.wait_for(firewall.guard(memcached("b1", "h2")), 5)   # h2 does not wait on h1
        assert {p.cache_cluster_id for p in c.agents.host("h2").firewall.ports} == {"b1"}
        assert not first.done() and not second.done()
        released.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert sent_to_h1 == [["a1"], ["a1", "a2"]]                       # in the order worked out
        assert {p.cache_cluster_id for p in c.agents.host("h1").firewall.ports} == {"a1", "a2"}
    run(tmp_path, scenario)


def test_firewalls_are_worked_out_again_only_after_the_clusters_the_store_or_the_hosts_changed(tmp_path):
    async def scenario(c: Coordinator) -> None:
        await c.start_hosts("h1")
        await available_memcached(c, "m1", "h1")
        await c.cycle()
        worked_out: list[set[str]] = []
        push = c.reconciler.firewall._push

        async def counted(host_ids: set[str]) -> list[str]:
            worked_out.append(host_ids)
            return await push(host_ids)
        c.reconciler.firewall._push = counted   # type: ignore[method-assign]
        assert await c.cycle() == "no action"
        assert worked_out == []
        await c.store.put("security-groups-touched", {"v": 1})    # a security group may have changed
        await c.cycle()
        assert worked_out == [{"h1"}]
        await c.start_hosts("h2")                                  # a host joined
        await c.cycle()
        assert len(worked_out) >= 2
    run(tmp_path, scenario)
