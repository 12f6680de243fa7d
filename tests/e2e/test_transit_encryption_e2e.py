"""TLS in transit through the API, on one real fleet: `--transit-encryption-enabled` makes the
coordinator sign a certificate for each node's key (the fleet CA, given as --node-ca-dir), the
engines serve TLS under their DNS names, a replica follows its primary over TLS, and a request
the fleet cannot honour is refused with ElastiCache's code and changes nothing.
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
    fleet = Fleet(base, hosts=2, engine_paths=[REDIS6], coordinator_args=["--node-ca-dir", str(base / "ca")]).start()
    yield fleet
    fleet.discard()


def tls_client(fleet: Fleet, name: str, port: int) -> redis.Redis:
    """A client that trusts the fleet CA, on the address the name resolves to; the node's
    certificate must name that address (its DNS name is checked in tests/unit)."""
    (address,) = fleet.resolve(name)
    return redis.Redis(host=address, port=port, ssl=True, ssl_ca_certs=str(fleet.ca.root / "ca.crt"),
                       ssl_check_hostname=True, socket_timeout=1, retry=None)


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


def test_a_killed_tls_primary_fails_over_and_the_new_primary_takes_writes_over_tls(fleet):
    """The evidence a failover rests on (a replica's host looking at its primary's engine) and
    the promotion itself both go over TLS."""
    create_group(fleet, "tlsfo", clusters=2, transit_encryption_enabled=True)
    group_now = wait_group(fleet, "tlsfo")
    old, port = primary_of(group_now), group_now.port
    (old_address,) = fleet.resolve(old.read_endpoint.address)
    kill_pid(engine_pid(fleet, old_address, port))
    wait_for(lambda: primary_of(group(fleet, "tlsfo")).cache_cluster_id != old.cache_cluster_id, 10,
             what="a replica promoted")
    wait_for(lambda: tls_client(fleet, "tlsfo.primary.cachefleet.test", port).set("after", "failover"), 5,
             what="the new primary to take writes over TLS (the name resolved again at each try)")
    assert f"Failover from primary node {old.cache_cluster_id}-0001" in " ".join(fleet.events("tlsfo"))


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
