"""memcached Auto Discovery on a real fleet, followed by a real third-party discovery client.

The client is django-elastipymemcache's AWSElastiCacheClient (pymemcache's HashClient that
asks the configuration endpoint `config get cluster` and re-asks every discovery_interval
on its way to a key). It is given the configuration endpoint's name; names of the fleet's
zone resolve through the hosts file the coordinator publishes (the client's own
`socket_module` hook, since this machine's resolver does not read that file).
"""
from __future__ import annotations

import socket
import time
import types

import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import a_reconcile_cycle_passes, create, port_closed
from tests.helpers.fleet import Fleet, wait_for

elastipymemcache = pytest.importorskip("django_elastipymemcache.client")


def resolving_socket(fleet: Fleet) -> types.SimpleNamespace:
    """The socket module, with getaddrinfo answering the fleet's zone from its hosts file."""
    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + fleet.zone):
            addresses = fleet.resolve(host)
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, f"{host} not in the zone")
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in addresses]
        return socket.getaddrinfo(host, port, *args, **kwargs)
    return types.SimpleNamespace(**{**vars(socket), "getaddrinfo": getaddrinfo})


def ask(address: str, port: int, command: bytes = b"config get cluster\r\n") -> bytes:
    """One command to a configuration endpoint, the raw reply (to its END line)."""
    with socket.create_connection((address, port), timeout=2) as sock:
        sock.sendall(command)
        reply = b""
        while not reply.endswith(b"END\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def expected(cluster: pb.CacheCluster, version: int) -> bytes:
    """What ElastiCache answers for this cluster's nodes (its live ones, sorted by name)."""
    nodes = sorted((n.endpoint.address, n.host_address, n.endpoint.port) for n in cluster.cache_nodes
                   if n.cache_node_status != "deleting")
    payload = f"{version}\n" + " ".join(f"{h}|{i}|{p}" for h, i, p in nodes) + "\n"
    return f"CONFIG cluster 0 {len(payload)}\r\n{payload}\r\nEND\r\n".encode()


def version_of(reply: bytes) -> int:
    return int(reply.split(b"\r\n", 1)[1].split(b"\n", 1)[0])


def client_for(fleet: Fleet, cluster: pb.CacheCluster):
    cfg = cluster.configuration_endpoint
    return elastipymemcache.AWSElastiCacheClient(
        f"{cfg.address}:{cfg.port}", discovery_interval=0.2, socket_module=resolving_socket(fleet),
        connect_timeout=1, timeout=1, retry_attempts=1, dead_timeout=0.5)


def servers(client) -> set[str]:
    return set(client.clients)


def follow(client, want: set[str], timeout: float = 10) -> None:
    """Use the client (its real refresh path runs on the way to a key) until it uses `want`."""
    def used() -> bool:
        for i in range(20):
            try:
                client.set(f"k{i}", b"v")
            except Exception:  # noqa: BLE001 - a node going away may fail one call; keep going
                pass
        return servers(client) == want
    wait_for(used, timeout, interval=0.05, what=f"the client to use {sorted(want)} (it uses {sorted(servers(client))})")


def node_servers(cluster: pb.CacheCluster) -> set[str]:
    return {f"{n.host_address}:{n.endpoint.port}" for n in cluster.cache_nodes if n.cache_node_status != "deleting"}


def test_a_discovery_client_follows_a_node_added_and_one_removed_without_a_restart(tmp_path):
    fleet = Fleet(tmp_path, hosts=3).start()
    try:
        create(fleet, "disco", nodes=2)
        cluster = fleet.wait_status("disco", "available")
        cfg = cluster.configuration_endpoint
        assert cfg.address == f"disco.cfg.{fleet.zone}" and cfg.port not in (0, cluster.port)
        addresses = sorted(fleet.resolve(cfg.address))
        assert addresses == sorted(n.host_address for n in cluster.cache_nodes)
        # every host of the cluster answers, byte for byte as ElastiCache does, version 1
        for address in addresses:
            wait_for(lambda: ask(address, cfg.port) == expected(cluster, 1), 5, what=f"{address} to answer v1")
        payload = expected(cluster, 1).split(b"\r\n", 1)[1][:-len(b"\r\nEND\r\n")]
        assert ask(addresses[0], cfg.port, b"get AmazonElastiCache:cluster\r\n") == \
            b"VALUE AmazonElastiCache:cluster 0 %d\r\n%s\r\nEND\r\n" % (len(payload), payload)
        with socket.create_connection((addresses[1], cfg.port), timeout=2) as sock:
            sock.sendall(b"version\r\nnonsense\r\nquit\r\n")
            reply = b""
            while chunk := sock.recv(4096):   # quit: the endpoint closes the connection
                reply += chunk
        assert reply == f"VERSION {cluster.engine_version}\r\nERROR\r\n".encode()
        client = client_for(fleet, cluster)
        assert servers(client) == node_servers(cluster)
        for i in range(30):
            client.set(f"key{i}", str(i).encode())

        # a node added: the client, still running, starts using it
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id="disco", num_cache_nodes=3, apply_immediately=True), timeout=5)
        cluster = fleet.wait_status("disco", "available")
        follow(client, node_servers(cluster))
        assert len(servers(client)) == 3
        for address in fleet.resolve(cfg.address):   # every host is told within a cycle
            wait_for(lambda: ask(address, cfg.port) == expected(cluster, 2), 5, what=f"{address} to answer v2")
        for i in range(30):
            client.set(f"key{i}", str(i).encode())
        assert all(client.get(f"key{i}") == str(i).encode() for i in range(30))

        # a node removed: it leaves the list while it is being deleted, and the client drops it
        removed = next(n for n in cluster.cache_nodes if n.cache_node_id == "0001")
        fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
            cache_cluster_id="disco", num_cache_nodes=2, cache_node_ids_to_remove=["0001"],
            apply_immediately=True), timeout=5)
        follow(client, node_servers(cluster) - {f"{removed.host_address}:{removed.endpoint.port}"})
        cluster = wait_for(lambda: (c := fleet.wait_status("disco", "available")) and len(c.cache_nodes) == 2 and c,
                           10, what="node 0001 gone")
        assert servers(client) == node_servers(cluster)
        for address in fleet.resolve(cfg.address):   # every host is told within a cycle
            wait_for(lambda: ask(address, cfg.port) == expected(cluster, 3), 5, what=f"{address} to answer v3")
        assert removed.host_address not in fleet.resolve(cfg.address)

        # the version is kept in the store: a restarted coordinator goes on from 3
        fleet.kill_coordinator()
        fleet.start_coordinator()
        a_reconcile_cycle_passes(fleet)   # whole reconcile cycles: none may move the version
        for address in fleet.resolve(cfg.address):
            assert ask(address, cfg.port) == expected(cluster, 3)
        # a restarted agent serves its endpoint again (from its state, before the coordinator calls)
        host = fleet.host_by_address(sorted(fleet.resolve(cfg.address))[0])
        host.proc.kill()
        host.proc.wait(10)
        fleet.start_agent(host)
        wait_for(lambda: ask(host.address, cfg.port) == expected(cluster, 3), 10, what="the restarted agent to answer")
        client.close()
        # a deleted cluster's endpoint stops answering everywhere
        last = fleet.resolve(cfg.address)
        fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="disco"), timeout=5)
        fleet.wait_gone("disco")
        for address in last:
            wait_for(lambda: port_closed(address, cfg.port), 5, what=f"{address}:{cfg.port} to close")
    finally:
        fleet.discard()


def test_the_configuration_endpoint_keeps_answering_when_a_host_of_the_cluster_is_lost(tmp_path):
    fleet = Fleet(tmp_path, hosts=4).start()
    try:
        create(fleet, "sturdy", nodes=3)
        cluster = fleet.wait_status("sturdy", "available")
        cfg = cluster.configuration_endpoint
        for address in fleet.resolve(cfg.address):   # told in the cycle that made the cluster available
            wait_for(lambda: ask(address, cfg.port) == expected(cluster, 1), 5, what=f"{address} to answer v1")
        client = client_for(fleet, cluster)
        assert servers(client) == node_servers(cluster)
        lost_node = next(n for n in cluster.cache_nodes if n.cache_node_id == "0002")
        lost = fleet.host_by_address(lost_node.host_address)
        fleet.kill_host(lost)
        # from the loss until the node is back elsewhere, the other hosts keep answering
        deadline = time.monotonic() + 15
        answered = 0
        while True:
            current = fleet.cluster("sturdy")
            moved = next(n for n in current.cache_nodes if n.cache_node_id == "0002")
            for address in fleet.resolve(cfg.address):
                if address != lost_node.host_address:
                    assert version_of(ask(address, cfg.port)) in (1, 2)
                    answered += 1
            if moved.host_address != lost_node.host_address and moved.cache_node_status == "available":
                break
            assert time.monotonic() < deadline, "node 0002 never came back"
            time.sleep(0.05)
        assert answered >= 2
        # then every address of the name answers version 2, with the node's new address
        assert lost_node.host_address not in fleet.resolve(cfg.address)
        for address in fleet.resolve(cfg.address):
            wait_for(lambda: ask(address, cfg.port) == expected(current, 2), 5, what=f"{address} to answer v2")
        follow(client, node_servers(current))
        client.close()
    finally:
        fleet.discard()
