"""TLS in transit and AUTH through the API, on one real fleet: `--transit-encryption-enabled`
makes the coordinator sign a certificate for each node's key (the fleet CA, given as
--node-ca-dir), the engines serve TLS under their DNS names, a replica follows its primary over
TLS, and a request the fleet cannot honour is refused with ElastiCache's code and changes
nothing. An AUTH token is rotated and set live, a failover works with AUTH on (the agents' own
connections authenticate), and a user group's read-only user cannot write.
"""
from __future__ import annotations

import socket
import ssl

import grpc
import pytest
import redis
from cachefleet.v1 import cache_control_pb2 as pb

from tests.helpers.agent import plaintext_answers
from tests.helpers.fleet import Fleet, kill_pid, wait_for
from tests.helpers.groups import create_group, engine_pid, group, members, primary_of, wait_group

REDIS6 = "/opt/cachefleet/redis-6.0.9/redis-server"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("transit")
    fleet = Fleet(base, hosts=2, engine_paths=[REDIS6], coordinator_args=[
        "--node-ca-dir", str(base / "ca"), "--secrets-key-file", str(base / "secrets.key")]).start()
    yield fleet
    fleet.discard()


TOKEN = "first-token-0123456789"
NEW_TOKEN = "second-token-0123456789"


def tls_client(fleet: Fleet, name: str, port: int, password: str | None = None,
               username: str | None = None) -> redis.Redis:
    """A client that trusts the fleet CA, on the address the name resolves to; the node's
    certificate must name that address (its DNS name is checked in tests/unit)."""
    (address,) = fleet.resolve(name)
    return redis.Redis(host=address, port=port, ssl=True, ssl_ca_certs=str(fleet.ca.root / "ca.crt"),
                       ssl_check_hostname=True, socket_timeout=1, retry=None, password=password,
                       username=username)


def refused(call) -> str:
    """The error redis answers a call with, after the name redis-py gives it ("" when it is
    taken): WRONGPASS is "invalid username-password pair", NOPERM a NoPermissionError."""
    try:
        call()
    except (redis.exceptions.ResponseError, redis.exceptions.AuthenticationError) as error:
        return f"{type(error).__name__}: {error}"
    return ""


def test_a_tls_replication_group_replicates_over_tls_and_serves_no_plaintext(fleet):
    create_group(fleet, "tlsgrp", clusters=2, transit_encryption_enabled=True)
    group = wait_group(fleet, "tlsgrp")
    assert (group.transit_encryption_enabled, group.transit_encryption_mode) == (True, "required")
    primary = primary_of(group)
    replica = next(m for m in members(group).values() if m.current_role == "replica")
    primary_client = tls_client(fleet, primary.read_endpoint.address, group.port)
    wait_for(lambda: primary_client.set("k", "over tls"), 5, what="the primary to take a write over TLS")
    replica_client = tls_client(fleet, replica.read_endpoint.address, group.port)
    wait_for(lambda: replica_client.get("k") == b"over tls", 5, what="the replica to have it")
    (address,) = fleet.resolve(primary.read_endpoint.address)
    assert b"PONG" not in plaintext_answers(address, group.port, b"PING\r\n")


def test_a_killed_tls_primary_with_an_auth_token_fails_over_and_the_new_primary_takes_writes(fleet):
    """The evidence a failover rests on (a replica's host looking at its primary's engine) and
    the promotion itself both go over TLS, and the agents' probes and commands authenticate."""
    create_group(fleet, "tlsfo", clusters=2, transit_encryption_enabled=True, auth_token=TOKEN)
    group_now = wait_group(fleet, "tlsfo")
    old, port = primary_of(group_now), group_now.port
    (old_address,) = fleet.resolve(old.read_endpoint.address)
    kill_pid(engine_pid(fleet, old_address, port))
    wait_for(lambda: primary_of(group(fleet, "tlsfo")).cache_cluster_id != old.cache_cluster_id, 10,
             what="a replica promoted")
    wait_for(lambda: tls_client(fleet, "tlsfo.primary.cachefleet.test", port, TOKEN).set("after", "failover"), 5,
             what="the new primary to take writes over TLS (the name resolved again at each try)")
    assert f"Failover from primary node {old.cache_cluster_id}-0001" in " ".join(fleet.events("tlsfo"))


def test_an_auth_token_rotates_and_is_set_live_and_a_user_groups_reader_cannot_write(fleet):
    create_group(fleet, "authgrp", clusters=2, transit_encryption_enabled=True, auth_token=TOKEN)
    group_now = wait_group(fleet, "authgrp")
    assert group_now.auth_token_enabled and TOKEN not in str(group_now)
    port, primary_name = group_now.port, "authgrp.primary.cachefleet.test"
    replica = next(m for m in members(group_now).values() if m.current_role == "replica")
    wait_for(lambda: tls_client(fleet, primary_name, port, TOKEN).set("k", "with auth"), 5, what="a write with the token")
    wait_for(lambda: tls_client(fleet, replica.read_endpoint.address, port, TOKEN).get("k") == b"with auth", 5,
             what="the replica to have it (its link authenticates as the replication user)")
    assert "authenticat" in refused(lambda: tls_client(fleet, primary_name, port).set("k", "x")).lower()  # NOAUTH
    pids = {m.cache_cluster_id: engine_pid(fleet, fleet.resolve(m.read_endpoint.address)[0], port)
            for m in members(group_now).values()}

    modify = pb.ModifyReplicationGroupRequest
    fleet.stub.ModifyReplicationGroup(modify(replication_group_id="authgrp", auth_token=NEW_TOKEN,
                                             auth_token_update_strategy="ROTATE"), timeout=5)
    wait_for(lambda: not refused(lambda: tls_client(fleet, primary_name, port, NEW_TOKEN).ping()), 5,
             what="the new token taken")
    assert tls_client(fleet, primary_name, port, TOKEN).ping()          # both valid while rotating
    fleet.stub.ModifyReplicationGroup(modify(replication_group_id="authgrp", auth_token=NEW_TOKEN,
                                             auth_token_update_strategy="SET"), timeout=5)
    wait_for(lambda: "invalid username-password pair" in refused(lambda: tls_client(fleet, primary_name, port, TOKEN).ping()), 5,
             what="the old token refused")
    assert tls_client(fleet, replica.read_endpoint.address, port, NEW_TOKEN).get("k") == b"with auth"

    create_user = pb.CreateUserRequest
    fleet.stub.CreateUser(create_user(user_id="app-default", user_name="default", engine="redis",
                                      access_string="off", no_password_required=True), timeout=5)
    fleet.stub.CreateUser(create_user(user_id="app-reader", user_name="reader", engine="redis",
                                      access_string="on ~* +@read", passwords=[TOKEN]), timeout=5)
    fleet.stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="app", engine="redis",
                                                         user_ids=["app-default", "app-reader"]), timeout=5)
    fleet.stub.ModifyReplicationGroup(modify(replication_group_id="authgrp", auth_token_update_strategy="DELETE",
                                             user_group_ids_to_add=["app"]), timeout=5)
    reader = lambda: tls_client(fleet, primary_name, port, TOKEN, username="reader")  # noqa: E731
    wait_for(lambda: not refused(lambda: reader().get("k")), 5, what="the reader's user on the primary")
    assert "NoPermissionError" in refused(lambda: reader().set("k", "no"))
    assert reader().get("k") == b"with auth"
    assert refused(lambda: tls_client(fleet, primary_name, port, NEW_TOKEN).ping())   # the token is gone
    wait_for(lambda: not refused(lambda: tls_client(fleet, replica.read_endpoint.address, port, TOKEN,
                                                    username="reader").get("k")), 5, what="the replica's users too")
    after = group(fleet, "authgrp")
    assert list(after.user_group_ids) == ["app"] and not after.auth_token_enabled
    assert {m.cache_cluster_id: engine_pid(fleet, fleet.resolve(m.read_endpoint.address)[0], port)
            for m in members(after).values()} == pids        # no engine was restarted
    assert not any(TOKEN in e or NEW_TOKEN in e for e in fleet.events("authgrp"))
    logs = " ".join(path.read_text(errors="replace") for path in fleet.base.glob("*.log"))   # coordinator, agents
    assert TOKEN not in logs and NEW_TOKEN not in logs


def test_memcached_preferred_serves_tls_on_its_port_and_plaintext_beside_it(fleet):
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="tlsmc", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=2,
        transit_encryption_enabled=True, transit_encryption_mode="preferred"), timeout=5)
    cluster = fleet.wait_status("tlsmc", "available")
    assert cluster.transit_encryption_mode == "preferred" and cluster.plaintext_port not in (0, cluster.port)
    for node in cluster.cache_nodes:
        assert plaintext_answers(node.host_address, cluster.plaintext_port, b"version\r\n").startswith(b"VERSION")
        assert not plaintext_answers(node.host_address, cluster.port, b"version\r\n").startswith(b"VERSION")
    # Auto Discovery answers over TLS too, under the configuration endpoint's name
    name = cluster.configuration_endpoint.address
    context = ssl.create_default_context(cafile=str(fleet.ca.root / "ca.crt"))

    def discovered() -> bytes:
        address = fleet.resolve(name)[0]
        with socket.create_connection((address, cluster.configuration_endpoint.port), timeout=1) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(b"config get cluster\r\n")
            return tls.recv(4096)
    reply = wait_for(lambda: discovered().startswith(b"CONFIG cluster"), 5, what="discovery over TLS") and discovered()
    assert all(node.endpoint.address.encode() in reply for node in cluster.cache_nodes)


@pytest.mark.parametrize("fields, code", [
    ({"engine_version": "6.0.9", "transit_encryption_enabled": True}, "InvalidParameterCombination"),
    ({"transit_encryption_mode": "required"}, "InvalidParameterCombination"),
    ({"transit_encryption_enabled": True, "transit_encryption_mode": "sometimes"}, "InvalidParameterValue"),
])
def test_transit_encryption_the_fleet_cannot_honour_is_refused_and_changes_nothing(fleet, fields, code):
    with pytest.raises(grpc.RpcError) as refused:
        fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id="tlsbad", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
            **fields), timeout=5)
    assert refused.value.details().startswith(f"{code}:")
    assert fleet.cluster("tlsbad") is None


def modify_transit(fleet: Fleet, group_id: str, **fields) -> pb.ReplicationGroup:
    return fleet.stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(
        replication_group_id=group_id, apply_immediately=True, **fields), timeout=5).replication_group


def test_tls_turned_on_for_a_running_group_serves_both_then_tls_only_with_no_restart_and_no_lost_write(fleet):
    """Preferred while clients move (TLS on the port, plaintext on PlaintextPort, open plaintext
    connections kept), then required (plaintext refused and cut): each node moves live."""
    create_group(fleet, "late", clusters=2)
    before = wait_group(fleet, "late")
    port, primary = before.port, primary_of(before)
    (address,) = fleet.resolve(primary.read_endpoint.address)
    pids = {m.cache_cluster_id: engine_pid(fleet, fleet.resolve(m.read_endpoint.address)[0], port)
            for m in members(before).values()}
    plain = redis.Redis(address, port, socket_timeout=1, retry=None)
    plain.mset({f"before:{i}": i for i in range(1000)})

    preferred = modify_transit(fleet, "late", transit_encryption_enabled=True, transit_encryption_mode="preferred")
    assert preferred.transit_encryption_mode == "preferred" and preferred.plaintext_port not in (0, port)
    verified = tls_client(fleet, primary.read_endpoint.address, port)
    wait_for(lambda: verified.set("tls", "on"), 10, what="the primary to take a write over TLS, verified")
    assert plain.set("plain", "still") and plain.get("tls") == b"on"          # its connection was kept
    moved = redis.Redis(address, preferred.plaintext_port, socket_timeout=1, retry=None)
    assert moved.get("plain") == b"still" and moved.set("moved", "yes")
    replica = next(m for m in members(preferred).values() if m.current_role == "replica")
    wait_for(lambda: tls_client(fleet, replica.read_endpoint.address, port).get("moved") == b"yes", 5,
             what="the replica to have it, read over TLS")

    wait_group(fleet, "late")          # modifying until every member's agent moved its listeners
    required = modify_transit(fleet, "late", transit_encryption_mode="required")
    assert (required.transit_encryption_mode, required.HasField("plaintext_port")) == ("required", False)
    wait_for(lambda: plaintext_answers(address, preferred.plaintext_port, b"PING\r\n") == b"", 10,
             what="the plaintext port closed")
    with pytest.raises(redis.ConnectionError):
        plain.ping()                                  # cut, and nothing to reconnect to in plaintext
    assert b"PONG" not in plaintext_answers(address, port, b"PING\r\n")
    assert verified.mget([f"before:{i}" for i in range(1000)]) == [str(i).encode() for i in range(1000)]
    after = wait_group(fleet, "late")
    assert primary_of(after).cache_cluster_id == primary.cache_cluster_id
    assert {m.cache_cluster_id: engine_pid(fleet, fleet.resolve(m.read_endpoint.address)[0], port)
            for m in members(after).values()} == pids      # no engine restarted
    assert any("applied live" in m for m in fleet.events("late"))


def test_a_standalone_redis_takes_tls_preferred_and_goes_back_to_plaintext_keeping_its_data(fleet):
    """modify-cache-cluster (our extension for a redis without a group), both ways, live."""
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="solo", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    cluster = fleet.wait_status("solo", "available")
    node = cluster.cache_nodes[0]
    pid = engine_pid(fleet, node.host_address, cluster.port)
    redis.Redis(node.host_address, cluster.port, socket_timeout=1).set("k", "kept")

    def modify(**fields) -> pb.CacheCluster:
        return fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(cache_cluster_id="solo", **fields),
                                             timeout=5).cache_cluster
    preferred = modify(transit_encryption_enabled=True, transit_encryption_mode="preferred")
    assert preferred.transit_encryption_mode == "preferred" and preferred.plaintext_port not in (0, cluster.port)
    verified = tls_client(fleet, node.endpoint.address, cluster.port)
    wait_for(lambda: verified.get("k") == b"kept", 10, what="the node to serve TLS, verified")
    plain = redis.Redis(node.host_address, preferred.plaintext_port, socket_timeout=1, retry=None)
    assert plain.get("k") == b"kept"
    fleet.wait_status("solo", "available")     # modifying until its agent moved the listeners
    off = modify(transit_encryption_enabled=False)
    assert (off.transit_encryption_enabled, off.HasField("plaintext_port")) == (False, False)
    wait_for(lambda: plaintext_answers(node.host_address, cluster.port, b"PING\r\n").startswith(b"+PONG"), 10,
             what="plaintext on the port again")
    assert redis.Redis(node.host_address, cluster.port, socket_timeout=1).get("k") == b"kept"
    assert engine_pid(fleet, node.host_address, cluster.port) == pid


def test_tls_asked_of_a_running_redis_6_is_refused_and_changes_nothing(fleet):
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="old6", engine="redis", engine_version="6.0.9", cache_node_type="cache.t1.micro",
        num_cache_nodes=1), timeout=5)
    fleet.wait_status("old6", "available")
    with pytest.raises(grpc.RpcError) as refused:
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id="old6", transit_encryption_enabled=True, transit_encryption_mode="preferred"), timeout=5)
    assert refused.value.details().startswith("InvalidParameterCombination: TransitEncryptionEnabled is not supported")
    after = fleet.cluster("old6")
    assert (after.transit_encryption_mode, after.HasField("plaintext_port")) == ("", False)
