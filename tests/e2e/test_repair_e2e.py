"""A lost host's nodes come back on other hosts under the same names and port."""
from __future__ import annotations

import time


from tests.helpers.clusters import create, endpoint_of, serves_memcached
from tests.helpers.fleet import Fleet, wait_for


def test_a_lost_hosts_nodes_are_recreated_elsewhere_under_the_same_names(tmp_path):
    fleet = Fleet(tmp_path, hosts=3).start()
    try:
        create(fleet, "moving", nodes=2)
        cluster = fleet.wait_status("moving", "available")
        address, port = endpoint_of(fleet, cluster, "0001")
        lost = fleet.host_by_address(address)
        survivor = endpoint_of(fleet, cluster, "0002")
        fleet.kill_host(lost)
        started = time.monotonic()
        moved = wait_for(lambda: (a := fleet.resolve("0001.moving.cachefleet.test")) and a[0] != address and a[0],
                         10, what="the name to move")
        wait_for(lambda: serves_memcached((moved, port)), 10, what="the moved node to serve")
        elapsed = time.monotonic() - started
        cluster = fleet.cluster("moving")
        node = cluster.cache_nodes[0]
        assert node.endpoint.address == "0001.moving.cachefleet.test" and node.endpoint.port == port
        assert fleet.host_by_address(moved).host_id not in (lost.host_id,
                                                             fleet.host_by_address(survivor[0]).host_id)
        assert serves_memcached(survivor)
        wait_for(lambda: fleet.cluster("moving").cache_nodes[0].cache_node_status == "available", 5,
                 what="node available")
        events = fleet.events("moving")
        assert any(m.startswith("Recovering cache nodes 0001") for m in events)
        wait_for(lambda: "Finished recovery for cache nodes 0001" in fleet.events("moving"), 5,
                 what="recovery event")
        assert any(f"Host {lost.host_id} lost" in m for m in fleet.events(lost.host_id))
        print(f"host lost -> node serving again elsewhere: {elapsed:.2f}s")
    finally:
        fleet.discard()


def test_without_capacity_a_lost_hosts_node_shows_failed_with_the_reason(tmp_path):
    fleet = Fleet(tmp_path, hosts=2).start()
    try:
        create(fleet, "stuck", nodes=2)
        cluster = fleet.wait_status("stuck", "available")
        address, _ = endpoint_of(fleet, cluster, "0002")
        fleet.kill_host(fleet.host_by_address(address))
        node = wait_for(lambda: (n := fleet.cluster("stuck").cache_nodes[1]).cache_node_status == "failed" and n,
                        10, what="node to show failed")
        assert node.cache_node_id == "0002"
        reason = next(m for m in fleet.events("stuck") if m.startswith("Cache node 0002 could not be recovered"))
        assert "No host" in reason and "port" in reason
        assert serves_memcached(endpoint_of(fleet, fleet.cluster("stuck"), "0001"))
    finally:
        fleet.discard()
