"""A primary cut off from the coordinator alone keeps serving: the data plane decides, not
the control plane's silence. (A primary cut off from its replicas too is fenced before a
promotion: tests/e2e/test_partitions_e2e.py.)"""
from __future__ import annotations

import threading
import time

import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.fleet import Fleet, wait_for
from tests.helpers.proxy import CuttableProxy
from tests.helpers.groups import group, primary_of, wait_group


class DirectWriter:
    """Writes to one node by address (not through the endpoint), as a client that keeps
    its old connection would; records the wall time of every write the node accepted."""

    def __init__(self, address: str, port: int):
        self.address, self.port = address, port
        self.accepted: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        client, n = None, 0
        while not self.stop.is_set():
            try:
                if client is None:
                    client = redis.Redis(host=self.address, port=self.port, socket_timeout=0.5,
                                         socket_connect_timeout=0.5)
                client.set(f"direct{n}", n)
                self.accepted.append(time.time())
                n += 1
            except redis.exceptions.RedisError as exc:
                self.errors.append(type(exc).__name__ + ": " + str(exc))
                if isinstance(exc, redis.exceptions.ConnectionError):
                    client = None
                time.sleep(0.002)


def test_a_primary_cut_off_from_the_coordinator_keeps_taking_writes_while_its_replicas_confirm_it(tmp_path):
    """Only the control plane is cut: the primary's engine still serves its replica, so it is
    not failed over, and its replica's agent confirms it (failsafe), so it is never fenced."""
    fleet = Fleet(tmp_path, hosts=3)
    proxy = CuttableProxy(("127.0.0.1", fleet.coordinator_port))
    fleet.hosts[0].coordinator_endpoint = proxy.endpoint
    fleet.start()
    try:
        cut_off = fleet.hosts[0]
        fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
            replication_group_id="fence", replication_group_description="fencing", num_cache_clusters=2,
            automatic_failover_enabled=True, cache_node_type="cache.t1.micro",
            preferred_cache_cluster_a_zs=[cut_off.zone, fleet.hosts[1].zone]), timeout=5)
        g = wait_group(fleet, "fence")
        port = g.node_groups[0].primary_endpoint.port
        assert fleet.resolve("fence.primary.cachefleet.test") == [cut_off.address]
        old = primary_of(g).cache_cluster_id

        writer = DirectWriter(cut_off.address, port)
        writer.thread.start()
        wait_for(lambda: len(writer.accepted) > 50, 5, what="writes on the primary")
        proxy.cut()
        cut_at = time.time()
        # the host is lost to the coordinator after 1.5 s; a failover would follow within the
        # guard's 3.5 s: watch well past both
        wait_for(lambda: time.time() > cut_at + 6, 8, what="six seconds of partition")
        assert primary_of(group(fleet, "fence")).cache_cluster_id == old
        accepted_late = [t for t in writer.accepted if t > cut_at + 5]
        assert accepted_late, "the primary stopped taking writes"
        assert writer.errors == [], writer.errors[-3:]
        proxy.heal()
        wait_for(lambda: time.time() > cut_at + 8, 4, what="the host back")
        writer.stop.set()
        writer.thread.join(5)
        assert writer.errors == [], writer.errors[-3:]
        events = [e.message for e in fleet.stub.DescribeEvents(
            pb.DescribeEventsRequest(source_identifier="fence"), timeout=2).events]
        assert not any(m.startswith("Failover from") for m in events), events
    finally:
        fleet.discard()
        proxy.close()
