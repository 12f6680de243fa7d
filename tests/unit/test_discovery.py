"""memcached Auto Discovery: the configuration endpoint's wire format, its listeners, and
the coordinator's node list and version (unit level; tests/test_discovery_e2e.py runs a fleet)."""
from __future__ import annotations

import asyncio
import json
import socket

import pytest
from cachefleet.v1 import node_agent_pb2 as agent_pb
from pymemcache.client.base import Client

from coordinator.reconcile.discovery import advance, endpoints_by_host, node_list
from coordinator.domain.model import Cluster, ClusterStatus, Node, NodeStatus
from coordinator.domain.errors import ApiError
from coordinator.domain.placement import HostView, account_usage, choose_config_port, place_new_cluster, place_nodes
from nodeagent.discovery import ClusterConfig, DiscoveryServer, answer
from tests.helpers.fleet import free_port

NODES = (("0002.c1.cachefleet.test", "127.0.0.12", 11211), ("0001.c1.cachefleet.test", "127.0.0.11", 11211))
PAYLOAD = b"7\n0001.c1.cachefleet.test|127.0.0.11|11211 0002.c1.cachefleet.test|127.0.0.12|11211\n"


def endpoint(address: str, port: int, version: int = 7, nodes=NODES) -> agent_pb.DiscoveryEndpoint:
    return agent_pb.DiscoveryEndpoint(
        cache_cluster_id="c1", bind_address=address, port=port, version=version, engine_version="1.6.18",
        nodes=[agent_pb.DiscoveryNode(host=h, ip=i, port=p) for h, i, p in nodes])


def exchange(address: str, port: int, data: bytes, until: bytes) -> bytes:
    """Send data, read until `until` ends the reply (or the server closes)."""
    with socket.create_connection((address, port), timeout=3) as sock:
        sock.sendall(data)
        reply = b""
        while not reply.endswith(until):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


# -- the wire format ---------------------------------------------------------------------------

def test_config_get_cluster_answers_exactly_as_elasticache():
    config = ClusterConfig.from_endpoint(endpoint("127.0.0.1", 1))
    assert config.payload() == PAYLOAD      # nodes sorted by host name
    assert answer(b"config get cluster", config) == \
        b"CONFIG cluster 0 %d\r\n" % len(PAYLOAD) + PAYLOAD + b"\r\nEND\r\n"
    assert len(PAYLOAD) == 84


def test_the_legacy_get_answers_the_same_payload_as_a_value():
    config = ClusterConfig.from_endpoint(endpoint("127.0.0.1", 1))
    assert answer(b"get AmazonElastiCache:cluster", config) == \
        b"VALUE AmazonElastiCache:cluster 0 84\r\n" + PAYLOAD + b"\r\nEND\r\n"
    assert answer(b"get some-other-key", config) == b"END\r\n"


def test_version_quit_and_unknown_commands():
    config = ClusterConfig.from_endpoint(endpoint("127.0.0.1", 1))
    assert answer(b"version", config) == b"VERSION 1.6.18\r\n"
    assert answer(b"quit", config) is None
    for line in (b"", b"set k 0 0 1", b"config get", b"config set cluster 1", b"\xff\xfe garbage", b"stats"):
        assert answer(line, config) == b"ERROR\r\n", line


# -- the agent's listeners ---------------------------------------------------------------------

def test_listeners_answer_follow_the_node_list_without_restarting_and_survive_bad_input(tmp_path):
    async def scenario():
        port = free_port("127.0.0.1")
        server = DiscoveryServer(tmp_path / "discovery.json")
        reply = await server.set(agent_pb.SetDiscoveryRequest(endpoints=[endpoint("127.0.0.1", port)]))
        assert list(reply.failed) == []
        listener = server.listeners[("127.0.0.1", port)]
        got = await asyncio.to_thread(exchange, "127.0.0.1", port,
                                      b"version\r\nbogus\r\nconfig get cluster\r\n", b"END\r\n")
        assert got == b"VERSION 1.6.18\r\nERROR\r\nCONFIG cluster 0 84\r\n" + PAYLOAD + b"\r\nEND\r\n"
        # a line longer than memcached allows closes that connection only
        junk = await asyncio.to_thread(exchange, "127.0.0.1", port, b"x" * 5000, b"\r\n")
        assert junk == b"CLIENT_ERROR line too long\r\n"
        # a new list: the same listener (same socket) answers it
        one = (("0001.c1.cachefleet.test", "127.0.0.11", 11211),)
        await server.set(agent_pb.SetDiscoveryRequest(endpoints=[endpoint("127.0.0.1", port, 8, one)]))
        assert server.listeners[("127.0.0.1", port)] is listener
        client = Client(("127.0.0.1", port), connect_timeout=2, timeout=2)
        raw = await asyncio.to_thread(client.raw_command, b"config get cluster", b"\n\r\nEND\r\n")
        assert raw == b"CONFIG cluster 0 43\r\n8\n0001.c1.cachefleet.test|127.0.0.11|11211"
        client.close()
        # kept on disk: a restarted agent serves it again
        saved = json.loads((tmp_path / "discovery.json").read_text())
        assert saved["endpoints"][0]["version"] == "8"
        await server.close()
        restarted = DiscoveryServer(tmp_path / "discovery.json")
        await restarted.restore()
        got = await asyncio.to_thread(exchange, "127.0.0.1", port, b"get AmazonElastiCache:cluster\r\n", b"END\r\n")
        assert got.startswith(b"VALUE AmazonElastiCache:cluster 0 43\r\n8\n")
        # an empty set stops it
        await restarted.set(agent_pb.SetDiscoveryRequest())
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        await restarted.close()
    asyncio.run(scenario())


def test_a_listener_caps_its_connections_and_closes_idle_ones(tmp_path):
    """Two connections at most: a third is told memcached's "ERROR Too many open connections"
    and closed; a connection silent for the idle timeout is closed, one that keeps asking is
    served on, and the room a closed one leaves is taken by the next client."""
    async def scenario():
        port = free_port("127.0.0.1")
        server = DiscoveryServer(tmp_path / "discovery.json", max_connections=2, idle_timeout=0.6)
        await server.set(agent_pb.SetDiscoveryRequest(endpoints=[endpoint("127.0.0.1", port)]))
        listener = server.listeners[("127.0.0.1", port)]
        opened = asyncio.get_running_loop().time()
        idle = await asyncio.open_connection("127.0.0.1", port)
        busy = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            while listener.connections < 2:
                await asyncio.sleep(0.01)
        third = await asyncio.to_thread(exchange, "127.0.0.1", port, b"version\r\n", b"\r\n")
        assert third == b"ERROR Too many open connections\r\n"
        closed = asyncio.ensure_future(idle[0].read())    # b"" once the listener closes it
        async with asyncio.timeout(5):
            while not closed.done():                      # meanwhile the busy one keeps asking
                busy[1].write(b"version\r\n")
                assert await busy[0].readline() == b"VERSION 1.6.18\r\n"
                await asyncio.sleep(0.1)
        assert closed.result() == b"" and asyncio.get_running_loop().time() - opened >= 0.55
        got = await asyncio.to_thread(exchange, "127.0.0.1", port, b"version\r\n", b"\r\n")
        assert got == b"VERSION 1.6.18\r\n"
        busy[1].write(b"version\r\n")
        assert await busy[0].readline() == b"VERSION 1.6.18\r\n"
        for _, writer in (idle, busy):
            writer.close()
        await server.close()
    asyncio.run(scenario())


def test_a_port_in_use_is_reported_not_fatal(tmp_path):
    async def scenario():
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            ok_port = free_port("127.0.0.1")
            server = DiscoveryServer(tmp_path / "discovery.json")
            reply = await server.set(agent_pb.SetDiscoveryRequest(
                endpoints=[endpoint("127.0.0.1", port), endpoint("127.0.0.1", ok_port)]))
            assert len(reply.failed) == 1 and reply.failed[0].startswith(f"127.0.0.1:{port}: ")
            assert list(server.listeners) == [("127.0.0.1", ok_port)]
            await server.close()
    asyncio.run(scenario())


# -- the coordinator's list and version -------------------------------------------------------

def memcached(status=ClusterStatus.AVAILABLE, **nodes: tuple[str, str, NodeStatus]) -> Cluster:
    cluster = Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", port=11211, status=status, config_port=11212)
    for node_id, (host_id, address, node_status) in nodes.items():
        cluster.nodes[node_id] = Node(node_id, node_status, host_id, "z", address)
    return cluster


def test_the_version_starts_at_1_and_moves_once_per_change_of_the_list():
    avail = NodeStatus.AVAILABLE
    cluster = memcached(ClusterStatus.CREATING, **{"0001": ("h1", "10.0.0.1", avail),
                                                   "0002": ("h2", "10.0.0.2", NodeStatus.CREATING)})
    assert node_list(cluster, "z") is None and not advance(cluster, "z")   # still creating its nodes
    cluster.nodes["0002"].status = avail
    assert advance(cluster, "z") and cluster.discovery_version == 1
    assert cluster.discovery_nodes == ["0001.c1.z|10.0.0.1|11211", "0002.c1.z|10.0.0.2|11211"]
    assert not advance(cluster, "z") and cluster.discovery_version == 1      # nothing changed
    cluster.status = ClusterStatus.MODIFYING
    cluster.nodes["0003"] = Node("0003", NodeStatus.CREATING, "h3", "z", "10.0.0.3")
    assert not advance(cluster, "z")                                         # not serving yet
    cluster.nodes["0003"].status = avail
    assert advance(cluster, "z") and cluster.discovery_version == 2
    cluster.nodes["0001"].status = NodeStatus.DELETING                       # leaves at once
    assert advance(cluster, "z") and cluster.discovery_version == 3
    cluster.nodes["0002"].address, cluster.nodes["0002"].status = "10.0.0.9", NodeStatus.RECOVERING
    assert advance(cluster, "z") and cluster.discovery_version == 4          # moved
    assert cluster.discovery_nodes == ["0002.c1.z|10.0.0.9|11211", "0003.c1.z|10.0.0.3|11211"]
    assert Cluster.from_dict(cluster.to_dict()).discovery_version == 4      # stored with the record


def test_every_host_of_a_node_serves_the_endpoint_at_that_nodes_address():
    avail = NodeStatus.AVAILABLE
    cluster = memcached(**{"0001": ("h1", "10.0.0.1", avail), "0002": ("h2", "10.0.0.2", avail),
                           "0003": ("h1", "10.0.1.1", avail), "0004": ("h3", "10.0.0.3", NodeStatus.DELETING)})
    advance(cluster, "z")
    wanted = endpoints_by_host([cluster, Cluster("r1", "redis", "7.0", "cache.t1.micro", port=6379)])
    assert sorted(wanted) == ["h1", "h2"]
    assert [(e.bind_address, e.port, e.version) for e in wanted["h1"]] == [("10.0.0.1", 11212, 1),
                                                                          ("10.0.1.1", 11212, 1)]
    assert [n.host for n in wanted["h2"][0].nodes] == ["0001.c1.z", "0002.c1.z", "0003.c1.z"]
    cluster.status = ClusterStatus.DELETING
    assert endpoints_by_host([cluster]) == {}


def test_the_configuration_port_is_free_beside_every_node_and_kept_by_later_placements():
    hosts = {f"h{i}": HostView(f"h{i}", "z", [f"10.0.0.{i}", f"10.0.1.{i}"], 4096, {"memcached": {"1.6.18"}})
             for i in (1, 2)}
    hosts["h1"].ports["10.0.0.1"] = {11212}          # something else holds 11212 on h1
    cluster = Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", port=0)
    cluster.port, slots = place_new_cluster(hosts, cluster, 2, [None, None], None)
    assert cluster.port == 11211
    cluster.config_port = choose_config_port(hosts, cluster.port, slots)
    assert cluster.config_port == 11213
    assert all({11211, 11213} <= hosts[s.host.host_id].ports[s.address] for s in slots)
    # a later node of the cluster needs both ports free where it goes
    hosts["h2"].ports["10.0.1.2"] = {11213}
    with pytest.raises(ApiError, match="InsufficientCacheClusterCapacity"):
        place_nodes([hosts["h2"]], cluster, 1, [None], cluster.port)
    hosts["h2"].addresses.append("10.0.2.2")
    (slot,) = place_nodes([hosts["h2"]], cluster, 1, [None], cluster.port)
    assert slot.address == "10.0.2.2" and hosts["h2"].ports["10.0.2.2"] == {11211, 11213}
    # and another cluster's nodes keep off both ports where this one's nodes are
    views = {h.host_id: h for h in [HostView("h1", "z", ["10.0.0.1"], 4096, {"memcached": {"1.6.18"}})]}
    account_usage(views, [Cluster.from_dict({**cluster.to_dict(), "nodes": {"0001": Node(
        "0001", NodeStatus.AVAILABLE, "h1", "z", "10.0.0.1").to_dict()}})])
    assert views["h1"].ports["10.0.0.1"] == {11211, 11213}


def test_the_agent_rpc_refuses_an_endpoint_without_address_or_port_and_serves_a_good_one(tmp_path):
    import grpc
    from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
    from nodeagent.service import NodeAgentService

    async def scenario():
        discovery = DiscoveryServer(tmp_path / "discovery.json")
        server = grpc.aio.server()
        agent_grpc.add_NodeAgentServicer_to_server(NodeAgentService(None, agent_pb.HostInfo(), discovery), server)
        rpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{rpc_port}") as channel:
            stub = agent_grpc.NodeAgentStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SetDiscovery(agent_pb.SetDiscoveryRequest(endpoints=[endpoint("", 0)]), timeout=5)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details().startswith("InvalidParameterValue")
            port = free_port("127.0.0.1")
            reply = await stub.SetDiscovery(agent_pb.SetDiscoveryRequest(endpoints=[endpoint("127.0.0.1", port)]),
                                            timeout=5)
            assert list(reply.failed) == []
        got = await asyncio.to_thread(exchange, "127.0.0.1", port, b"config get cluster\r\n", b"END\r\n")
        assert got == b"CONFIG cluster 0 84\r\n" + PAYLOAD + b"\r\nEND\r\n"
        await discovery.close()
        await server.stop(0)
    asyncio.run(scenario())
