"""Redis replication groups end to end: real redis-server primaries and replicas.

Clients use the group's primary endpoint name, resolving it again on every reconnect,
exactly as an application behind ElastiCache does.
"""
from __future__ import annotations

import time

import grpc
import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb, node_agent_pb2_grpc as agent_grpc
from tests.helpers.clusters import a_reconcile_cycle_passes
from tests.helpers.fleet import Fleet, kill_pid, pid_alive, wait_for
from tests.helpers.groups import Writer, client_for, create_group, engine_pid, group, members, primary_of, wait_group


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("groups"), hosts=4).start()
    yield f
    f.discard()


def test_a_group_replicates_and_shows_roles_endpoints_and_lag(fleet):
    create_group(fleet, "rg1", clusters=3)
    g = wait_group(fleet, "rg1")
    assert list(g.member_clusters) == ["rg1-001", "rg1-002", "rg1-003"]
    assert g.automatic_failover == "enabled"
    node_group = g.node_groups[0]
    assert node_group.primary_endpoint.address == "rg1.primary.cachefleet.test"
    assert node_group.reader_endpoint.address == "rg1.reader.cachefleet.test"
    roles = {m.cache_cluster_id: m.current_role for m in node_group.node_group_members}
    assert roles == {"rg1-001": "primary", "rg1-002": "replica", "rg1-003": "replica"}
    hosts = {m.host_id for m in node_group.node_group_members}
    assert len(hosts) == 3, "members go to different hosts"
    port = node_group.primary_endpoint.port
    primary = client_for(fleet, "rg1.primary.cachefleet.test", port)
    for i in range(100):
        primary.set(f"k{i}", i)
    assert primary.wait(2, 2000) == 2
    readers = fleet.resolve("rg1.reader.cachefleet.test")
    assert len(readers) == 2 and fleet.resolve("rg1.primary.cachefleet.test")[0] not in readers
    for address in readers:
        replica = redis.Redis(host=address, port=port, socket_timeout=1)
        assert replica.get("k99") == b"99"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            replica.set("x", 1)
    g = wait_for(lambda: (d := group(fleet, "rg1")) and all(
        m.replication_link_status == "up" for m in members(d).values() if m.current_role == "replica") and d,
        5, what="links up in describe")
    for member in members(g).values():
        if member.current_role == "replica":
            assert member.replication_lag_bytes >= 0 and member.HasField("last_sync_time")
    # member clusters are ordinary redis clusters that name their group
    cluster = fleet.cluster("rg1-002")
    assert cluster.replication_group_id == "rg1" and cluster.engine == "redis"


def test_refused_group_requests_say_why_and_change_nothing(fleet):
    create_group(fleet, "rg2", clusters=2)
    wait_group(fleet, "rg2")
    before = fleet.stub.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest())
    cases = [
        (fleet.stub.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id="solo", replication_group_description="d", num_cache_clusters=1,
            automatic_failover_enabled=True, cache_node_type="cache.t1.micro"), "InvalidParameterCombination"),
        (fleet.stub.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id="big", replication_group_description="d", num_cache_clusters=7,
            cache_node_type="cache.t1.micro"), "InvalidParameterValue"),
        (fleet.stub.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id="chain", replication_group_description="d", primary_cluster_id="rg2-002"),
         "InvalidCacheClusterState"),
        (fleet.stub.CreateReplicationGroup, pb.CreateReplicationGroupRequest(
            replication_group_id="rg2", replication_group_description="d", num_cache_clusters=2,
            cache_node_type="cache.t1.micro"), "ReplicationGroupAlreadyExists"),
        (fleet.stub.IncreaseReplicaCount, pb.IncreaseReplicaCountRequest(
            replication_group_id="rg2", new_replica_count=6, apply_immediately=True), "InvalidParameterValue"),
        (fleet.stub.DecreaseReplicaCount, pb.DecreaseReplicaCountRequest(
            replication_group_id="rg2", new_replica_count=0, apply_immediately=True), "InvalidParameterCombination"),
        (fleet.stub.ModifyReplicationGroup, pb.ModifyReplicationGroupRequest(
            replication_group_id="rg2", primary_cluster_id="rg9-001"), "InvalidParameterValue"),
        (fleet.stub.TestFailover, pb.TestFailoverRequest(replication_group_id="rg2", node_group_id="0002"),
         "NodeGroupNotFoundFault"),
        (fleet.stub.DeleteReplicationGroup, pb.DeleteReplicationGroupRequest(replication_group_id="nope"),
         "ReplicationGroupNotFoundFault"),
        (fleet.stub.DeleteCacheCluster, pb.DeleteCacheClusterRequest(cache_cluster_id="rg2-001"),
         "InvalidCacheClusterState"),
        (fleet.stub.RebootCacheCluster, pb.RebootCacheClusterRequest(
            cache_cluster_id="rg2-001", cache_node_ids_to_reboot=["0001"]), "InvalidCacheClusterState"),
    ]
    for method, request, code in cases:
        with pytest.raises(grpc.RpcError) as err:
            method(request, timeout=5)
        assert err.value.details().startswith(code + ": "), (type(request).__name__, err.value.details())
    after = fleet.stub.DescribeReplicationGroups(pb.DescribeReplicationGroupsRequest())
    def strip(reply):
        return [(g.replication_group_id, g.status, list(g.member_clusters), primary_of(g).cache_cluster_id)
                for g in reply.replication_groups]
    assert strip(after) == strip(before)


def test_a_killed_primary_engine_fails_over_and_no_acknowledged_write_is_lost(fleet):
    create_group(fleet, "rg3", clusters=3)
    g = wait_group(fleet, "rg3")
    port = g.node_groups[0].primary_endpoint.port
    old = primary_of(g)
    (old_address,) = fleet.resolve("rg3.primary.cachefleet.test")
    victim = engine_pid(fleet, old_address, port)
    with Writer(fleet, "rg3.primary.cachefleet.test", port) as writer:
        killed_at = time.monotonic()
        kill_pid(victim)
        wait_for(lambda: writer.first_accept_after(killed_at + 0.05), 5, what="a write accepted after the kill")
        recovered = writer.first_accept_after(killed_at + 0.05) - killed_at
        wait_for(lambda: len(writer.acked) > len([a for a in writer.ack_times if a < killed_at]) + 50, 5,
                 what="writes to keep flowing")
    assert not pid_alive(victim)
    g = wait_group(fleet, "rg3")
    new = primary_of(g)
    assert new.cache_cluster_id != old.cache_cluster_id
    new_address = fleet.resolve("rg3.primary.cachefleet.test")[0]
    assert new_address != old_address
    client = redis.Redis(host=new_address, port=port, socket_timeout=2)
    values = client.mget([f"w{n}" for n in writer.acked])
    lost = [n for n, v in zip(writer.acked, values) if v is None]
    assert lost == [], f"acknowledged writes lost: {lost[:10]}"
    print(f"primary SIGKILL -> first accepted write: {recovered:.3f}s")
    assert recovered < 2.0
    # the old primary comes back as a replica of the new one, with the data
    wait_for(lambda: members(group(fleet, "rg3"))[old.cache_cluster_id].current_role == "replica"
             and members(group(fleet, "rg3"))[old.cache_cluster_id].replication_link_status == "up",
             15, what="old primary back as a replica")
    old_node = redis.Redis(host=old_address, port=port, socket_timeout=2)
    wait_for(lambda: old_node.get(f"w{writer.acked[-1]}") is not None, 5, what="old node resynced")
    events = fleet.events("rg3")
    assert f"Failover from primary node {old.cache_cluster_id}-0001 to replica node {new.cache_cluster_id}-0001 " \
           f"completed" in events
    assert f"Recovering cache nodes {old.cache_cluster_id}-0001" in events
    wait_for(lambda: "Finished recovery for cache nodes 0001" in fleet.events(old.cache_cluster_id), 5,
             what="recovery finished event")
    # the group that says "Recovering" says when it finished, too
    wait_for(lambda: f"Finished recovery for cache nodes {old.cache_cluster_id}-0001" in fleet.events("rg3"), 5,
             what="recovery finished event on the group")


def test_a_planned_switch_loses_no_acknowledged_write(fleet):
    create_group(fleet, "rg4", clusters=2)
    g = wait_group(fleet, "rg4")
    port = g.node_groups[0].primary_endpoint.port
    old = primary_of(g).cache_cluster_id
    target = next(m for m in g.member_clusters if m != old)
    with Writer(fleet, "rg4.primary.cachefleet.test", port) as writer:
        fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
            replication_group_id="rg4", primary_cluster_id=target, apply_immediately=True), timeout=5)
        wait_for(lambda: primary_of(group(fleet, "rg4")).cache_cluster_id == target, 15, what="switch")
        switched = len(writer.acked)
        wait_for(lambda: len(writer.acked) > switched + 50, 5, what="writes on the new primary")
    wait_group(fleet, "rg4")
    client = client_for(fleet, "rg4.primary.cachefleet.test", port)
    values = client.mget([f"w{n}" for n in writer.acked])
    assert [n for n, v in zip(writer.acked, values) if v is None] == []
    fleet.stub.TestFailover(pb.TestFailoverRequest(replication_group_id="rg4", node_group_id="0001"), timeout=5)
    wait_for(lambda: primary_of(group(fleet, "rg4")).cache_cluster_id == old, 15, what="test failover")


def test_replicas_never_follow_a_primary_that_restarted_empty(fleet):
    create_group(fleet, "rg5", clusters=2, failover=False)
    g = wait_group(fleet, "rg5")
    port = g.node_groups[0].primary_endpoint.port
    (primary_address,) = fleet.resolve("rg5.primary.cachefleet.test")
    (replica_address,) = fleet.resolve("rg5.reader.cachefleet.test")
    primary = redis.Redis(host=primary_address, port=port, socket_timeout=1)
    # A primary with a write guard answers NOREPLICAS for up to a second whenever redis, which
    # recounts its replicas once a second from whole-second acknowledgement times, finds none
    # within min-replicas-max-lag (1 s): a busy machine does that with the replica healthy. A
    # refused SET changes nothing, so each is sent again until it is taken.
    for i in range(500):
        wait_for(lambda i=i: primary.set(f"d{i}", i), 5, what=f"the primary to take write d{i}")
    assert primary.wait(1, 2000) == 1
    victim = engine_pid(fleet, primary_address, port)
    kill_pid(victim)
    wait_for(lambda: any("automatic failover is disabled" in m for m in fleet.events("rg5")), 5,
             what="the coordinator to hold the group")
    replica = redis.Redis(host=replica_address, port=port, socket_timeout=1)
    wait_for(lambda: replica.info("replication")["role"] == "master", 5, what="replica detached")
    # Someone starts the old primary by hand: it comes back empty.
    host = fleet.host_by_address(primary_address)
    import xmlrpc.client
    from supervisor.xmlrpc import SupervisorTransport
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(
        None, None, f"unix://{host.state_dir / 'supervisor.sock'}"))
    program = next(p["name"] for p in proxy.supervisor.getAllProcessInfo() if p["name"].startswith("rg5-"))
    proxy.supervisor.startProcess(program)
    restarted = redis.Redis(host=primary_address, port=port, socket_timeout=1)
    wait_for(lambda: restarted.ping(), 5, what="old primary answering again")
    assert restarted.dbsize() == 0
    # its agent sees it back, tells the coordinator, and whole reconcile cycles pass after
    # that: none may point the replica at it
    node_key, pid = f"{primary_of(g).cache_cluster_id}-0001", int(restarted.info("server")["process_id"])
    with fleet.agent_channel(host) as channel:
        agent = agent_grpc.NodeAgentStub(channel)
        wait_for(lambda: any(n.node_key == node_key and n.pid == pid and n.healthy
                             for n in agent.ListNodes(agent_pb.ListNodesRequest(), timeout=2).nodes), 10,
                 what="the agent to see the old primary back")
    a_reconcile_cycle_passes(fleet, host=host)
    assert replica.dbsize() == 500, "the replica followed an empty primary"
    assert replica.info("replication")["role"] == "master"
    with pytest.raises(redis.exceptions.ResponseError):
        restarted.set("new", 1)          # held read-only: it is not the group's primary
    # the operator names the replica as primary: it takes writes with all its data
    replica_cluster = next(m for m in g.member_clusters if m != primary_of(g).cache_cluster_id)
    fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
        replication_group_id="rg5", primary_cluster_id=replica_cluster, apply_immediately=True), timeout=5)
    wait_for(lambda: fleet.resolve("rg5.primary.cachefleet.test") == [replica_address], 10, what="endpoint moved")
    new_primary = client_for(fleet, "rg5.primary.cachefleet.test", port)
    wait_for(lambda: new_primary.set("after", 1), 10, what="writes on the chosen primary")
    assert new_primary.dbsize() >= 500
    # and the emptied node resyncs from it
    wait_for(lambda: restarted.dbsize() >= 500, 15, what="old node resynced as a replica")


def test_a_lost_primary_host_fails_over_and_the_member_is_recreated(fleet, tmp_path):
    create_group(fleet, "rg6", clusters=2)
    g = wait_group(fleet, "rg6")
    port = g.node_groups[0].primary_endpoint.port
    old = primary_of(g).cache_cluster_id
    (old_address,) = fleet.resolve("rg6.primary.cachefleet.test")
    host = fleet.host_by_address(old_address)
    with Writer(fleet, "rg6.primary.cachefleet.test", port) as writer:
        killed_at = time.monotonic()
        fleet.kill_host(host)
        wait_for(lambda: writer.first_accept_after(killed_at + 0.05), 10, what="a write after the host loss")
        recovered = writer.first_accept_after(killed_at + 0.05) - killed_at
    print(f"primary host lost -> first accepted write: {recovered:.3f}s")
    assert recovered < 5
    wait_for(lambda: (d := group(fleet, "rg6")) and members(d)[old].current_role == "replica"
             and members(d)[old].host_id != host.host_id and members(d)[old].replication_link_status == "up",
             20, what="old member re-created elsewhere as a replica")
    client = client_for(fleet, "rg6.primary.cachefleet.test", port)
    values = client.mget([f"w{n}" for n in writer.acked])
    assert [n for n, v in zip(writer.acked, values) if v is None] == []
    # bring the host back for the module's other tests: its old engine is removed, not revived
    fleet.start_agent(host)
    wait_for(lambda: next(h for h in fleet.describe_hosts() if h.host_id == host.host_id).status == "available",
             10, what="host back")


def test_replicas_are_added_removed_and_the_group_deleted_keeping_the_primary(fleet):
    create_group(fleet, "rg7", clusters=1, failover=False)
    g = wait_group(fleet, "rg7")
    fleet.stub.IncreaseReplicaCount(pb.IncreaseReplicaCountRequest(
        replication_group_id="rg7", new_replica_count=2, apply_immediately=True), timeout=5)
    g = wait_group(fleet, "rg7")
    assert len(g.member_clusters) == 3
    port = g.node_groups[0].primary_endpoint.port
    client_for(fleet, "rg7.primary.cachefleet.test", port).set("kept", "yes")
    fleet.stub.DecreaseReplicaCount(pb.DecreaseReplicaCountRequest(
        replication_group_id="rg7", replicas_to_remove=["rg7-003"], apply_immediately=True), timeout=5)
    g = wait_group(fleet, "rg7")
    assert list(g.member_clusters) == ["rg7-001", "rg7-002"]
    wait_for(lambda: fleet.cluster("rg7-003") is None, 10, what="removed replica's cluster gone")
    fleet.stub.DeleteReplicationGroup(pb.DeleteReplicationGroupRequest(
        replication_group_id="rg7", retain_primary_cluster=True), timeout=5)
    wait_for(lambda: group(fleet, "rg7") is None, 15, what="group deleted")
    wait_for(lambda: fleet.cluster("rg7-002") is None, 10, what="replica deleted")
    kept = fleet.cluster("rg7-001")
    assert kept.replication_group_id == "" and kept.cache_cluster_status == "available"
    address = fleet.resolve(kept.cache_nodes[0].endpoint.address)[0]
    assert redis.Redis(host=address, port=port, socket_timeout=1).get("kept") == b"yes"
    wait_for(lambda: fleet.resolve("rg7.primary.cachefleet.test") == [], 5, what="group names removed")
