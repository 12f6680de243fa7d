"""Node names published to a real BIND by RFC 2136 + TSIG follow the nodes when they move."""
from __future__ import annotations

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.bind import named_server  # noqa: F401 - pytest fixture
from tests.helpers.clusters import create, serves_memcached
from tests.helpers.fleet import Fleet, wait_for


def test_node_names_in_bind_answer_with_the_node_address_and_move_with_the_node(tmp_path, named_server):  # noqa: F811
    fleet = Fleet(tmp_path, hosts=3, named=named_server)
    fleet.zone = named_server.zone
    fleet.start()
    try:
        create(fleet, "dnsc", nodes=2)
        cluster = fleet.wait_status("dnsc", "available")
        node = cluster.cache_nodes[0]
        assert node.endpoint.address == f"0001.dnsc.{named_server.zone}"
        rrset = wait_for(lambda: fleet.query(node.endpoint.address), 5, what="A record in BIND")
        assert rrset.ttl == 5
        (address,) = [r.address for r in rrset]
        assert address == node.host_address
        assert serves_memcached((address, node.endpoint.port))
        configuration = wait_for(lambda: fleet.resolve(cluster.configuration_endpoint.address), 5,
                                 what="configuration endpoint")
        assert sorted(configuration) == sorted(n.host_address for n in cluster.cache_nodes)

        fleet.kill_host(fleet.host_by_address(address))
        moved = wait_for(lambda: (a := fleet.resolve(node.endpoint.address)) and a != [address] and a, 10,
                         what="the name to move in BIND")
        wait_for(lambda: serves_memcached((moved[0], node.endpoint.port)), 10, what="moved node to serve")

        fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id="dnsc"), timeout=5)
        fleet.wait_gone("dnsc")
        wait_for(lambda: fleet.resolve(node.endpoint.address) == [], 5, what="the name to be removed from BIND")
    finally:
        fleet.discard()
