"""A primary cut off from the coordinator, while its clients still reach it, stops taking
writes before a replica is promoted in its place: never two writable primaries."""
from __future__ import annotations

import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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


def test_a_partitioned_primary_accepts_no_write_once_a_replica_is_promoted(tmp_path):
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
        cut_at = time.time()
        proxy.cut()
        wait_for(lambda: (d := group(fleet, "fence")) and primary_of(d).cache_cluster_id != old, 10,
                 what="a replica promoted")
        new_address = wait_for(lambda: (a := fleet.resolve("fence.primary.cachefleet.test")) != [cut_off.address]
                               and a, 5, what="primary endpoint moved")
        events = fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier="fence"), timeout=2).events
        failover_at = next(e.date.ToNanoseconds() / 1e9 for e in events
                           if e.message.startswith("Failover from")) - fleet.clock_offset()   # in real time
        # keep writing at the old primary a while after the promotion
        wait_for(lambda: time.time() > failover_at + 1.0, 3, what="a second past the promotion")
        writer.stop.set()
        writer.thread.join(5)

        last_accepted = max(writer.accepted)
        assert last_accepted < failover_at, (
            f"the old primary accepted a write {last_accepted - failover_at:.3f}s after the promotion")
        assert any("NOREPLICAS" in e for e in writer.errors), writer.errors[-3:]
        print(f"partition -> old primary fenced after {last_accepted - cut_at:.3f}s; "
              f"promotion after {failover_at - cut_at:.3f}s")
        new = redis.Redis(host=new_address[0], port=port, socket_timeout=1)
        new.set("after-failover", 1)
        assert new.get("direct0") == b"0"

        # The partition heals. The lost host's member was re-created elsewhere meanwhile, so
        # the engine left on the cut-off host is removed: its clients are disconnected, and
        # the member, a replica of the new primary, holds the data under its own name.
        survivor = redis.Redis(host=cut_off.address, port=port, socket_timeout=1, retry=Retry(NoBackoff(), 0))
        survivor.ping()
        proxy.heal()
        wait_for(lambda: (d := group(fleet, "fence")) and any(
            m.cache_cluster_id == old and m.current_role == "replica" and m.replication_link_status == "up"
            for m in d.node_groups[0].node_group_members), 15, what="old member back as a replica")
        with pytest.raises(redis.exceptions.RedisError):   # fenced, then disconnected and removed
            survivor.set("stale", 1)
        (member_address,) = fleet.resolve(f"0001.{old}.cachefleet.test")
        member = redis.Redis(host=member_address, port=port, socket_timeout=1)
        wait_for(lambda: member.get("after-failover") == b"1", 5, what="the member to have the new data")
        assert member.info("replication")["role"] == "slave"
    finally:
        fleet.stop()
        proxy.close()
