"""Network partitions on a fleet deployed as README's "Running it as a service" says, one
network namespace per host (tests/helpers/netns.py, tests/helpers/servicefleet.py).

A client namespace writes through the endpoint names, resolved by the BIND zone, while a
host is cut off from the coordinator and the other hosts with nftables drop rules. Each test
makes its own bed and prints what it measured (`pytest -s` shows it)."""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import dns.exception
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.fleet import wait_for
from tests.helpers.groups import group, members, primary_of, wait_group
from tests.helpers.netns import Bed
from tests.helpers.servicefleet import ServiceFleet

PROMOTION_DEADLINE_S = 15.0     # partition → a replica promoted (today about 2 s)
HEAL_DEADLINE_S = 30.0          # heal → the old member serves as a replica again
REFUSED = ("NOREPLICAS", "READONLY")


@pytest.fixture
def fleet() -> Iterator[ServiceFleet]:
    with Bed(hosts=3, extra_per_host=1) as bed, ServiceFleet(bed) as f:
        yield f


class Writer:
    """SET k0, k1, ... from the client namespace, at the address `target()` gives at each
    (re)connect; records (n, wall time, address) of every write the engine answered OK and
    the errors it answered instead. A refused write (NOREPLICAS, READONLY) reconnects, as
    a client must: a fenced primary cut off from its agent keeps its clients' connections."""

    def __init__(self, fleet: ServiceFleet, prefix: str, port: int, target):
        self.fleet, self.prefix, self.port, self.target = fleet, prefix, port, target
        self.accepted: list[tuple[int, float, str]] = []
        self.errors: list[tuple[float, str, str]] = []
        self.stop = threading.Event()
        self.thread = fleet.bed.thread("client", self.run)

    def run(self) -> None:
        client, address, n = None, "", 0
        while not self.stop.is_set():
            try:
                if client is None:
                    address = self.target()
                    client = redis.Redis(host=address, port=self.port, socket_timeout=0.5,
                                         socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
                client.set(f"{self.prefix}{n}", n)
                self.accepted.append((n, time.time(), address))
                n += 1
            except (redis.exceptions.RedisError, OSError, ValueError, dns.exception.DNSException) as exc:
                self.errors.append((time.time(), address, f"{type(exc).__name__}: {exc}"))
                # (redis-py raises READONLY as ReadOnlyError, its message without the code)
                if not isinstance(exc, redis.exceptions.ResponseError) or str(exc).startswith(REFUSED) \
                        or isinstance(exc, redis.exceptions.ReadOnlyError):
                    client = None        # reconnect, resolving the name again
                time.sleep(0.005)

    def __enter__(self) -> Writer:
        self.thread.start()
        wait_for(lambda: len(self.accepted) > 50, 10, what=f"{self.prefix} writes flowing")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def at(self, address: str) -> list[tuple[int, float, str]]:
        return [w for w in self.accepted if w[2] == address]


@dataclasses.dataclass
class Failover:
    port: int
    old_member: str
    old_address: str
    old_host: str
    new_address: str
    cut_at: float
    promoted_at: float            # the failover event's time
    endpoint_writer: Writer
    direct_writer: Writer


def missing(client: redis.Redis, prefix: str, writes: list[tuple[int, float, str]]) -> list[tuple[int, float, str]]:
    """The writes of `writes` whose key is not on `client`'s engine (or holds another value)."""
    lost = []
    for i in range(0, len(writes), 500):
        batch = writes[i:i + 500]
        values = client.mget([f"{prefix}{n}" for n, _, _ in batch])
        lost += [w for w, v in zip(batch, values, strict=True) if v != str(w[0]).encode()]
    return lost


def partition_the_primary(fleet: ServiceFleet, from_coordinator: bool = True) -> Failover:
    """A 3-member group, one member per host; the primary's host is cut, both ways, from the
    other hosts and (`from_coordinator`) the coordinator while the client namespace still
    reaches it; return once a replica is promoted and the endpoint name resolves to it. The
    writers keep running."""
    fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id="pg", replication_group_description="partition test", num_cache_clusters=3,
        automatic_failover_enabled=True, cache_node_type="cache.t1.micro",
        preferred_cache_cluster_a_zs=["rack-a", "rack-b", "rack-c"]), timeout=5)
    g = wait_group(fleet, "pg", timeout=30)
    assert sorted(m.host_id for m in members(g).values()) == fleet.hosts
    wait_for(lambda: all(m.replication_link_status == "up" for m in members(group(fleet, "pg")).values()
                         if m.current_role == "replica"), 10, what="both replicas in sync")
    endpoint = g.node_groups[0].primary_endpoint
    (old_address,) = fleet.resolve(endpoint.address)
    old_member = primary_of(g).cache_cluster_id
    old_host = fleet.host_of(old_address)
    assert old_host == primary_of(g).host_id

    def resolve_endpoint() -> str:
        (address,) = fleet.resolve(endpoint.address)
        return address

    endpoint_writer = Writer(fleet, "e", endpoint.port, resolve_endpoint).__enter__()
    direct_writer = Writer(fleet, "d", endpoint.port, lambda: old_address).__enter__()
    cut_at = time.time()
    fleet.bed.isolate(old_host, ["coordinator"] * from_coordinator + [h for h in fleet.hosts if h != old_host])
    assert fleet.bed.reaches("client", old_address, endpoint.port), "the client must still reach the old primary"

    wait_for(lambda: primary_of(group(fleet, "pg")).cache_cluster_id != old_member, PROMOTION_DEADLINE_S,
             interval=0.05, what="a replica promoted")
    new_address = wait_for(lambda: (a := resolve_endpoint()) != old_address and a, 10, what="the endpoint moved")
    wait_for(lambda: endpoint_writer.at(new_address), 10, what="a write through the endpoint on the new primary")
    promoted_at = next(e.date.ToNanoseconds() / 1e9 for e in fleet.events("pg")
                       if e.message.startswith(f"Failover from primary node {old_member}"))
    return Failover(endpoint.port, old_member, old_address, old_host, new_address, cut_at, promoted_at,
                    endpoint_writer, direct_writer)


@pytest.mark.parametrize("from_coordinator", [True, False], ids=["and-the-coordinator", "only"])
def test_a_primary_cut_off_from_its_replicas_is_fenced_before_a_replica_is_promoted(fleet, from_coordinator):
    """Cut from the coordinator too, its agent fences it when its lease runs out, and its
    engine's guard if the agent cannot; cut from its replicas only, its guard refuses writes
    and the coordinator fences it through its agent, then promotes a replica (the side with
    the replicas and the coordinator goes on)."""
    f = partition_the_primary(fleet, from_coordinator)
    try:
        # keep knocking on the old primary for a second past the promotion
        wait_for(lambda: time.time() > f.promoted_at + 1.0, 5, what="a second past the promotion")
    finally:
        f.endpoint_writer.__exit__()
        f.direct_writer.__exit__()
    old_writes = f.endpoint_writer.at(f.old_address) + f.direct_writer.at(f.old_address)
    last_old = max(t for _, t, _ in old_writes)
    first_new = min(t for _, t, _ in f.endpoint_writer.at(f.new_address))
    refusals = [e for e in f.direct_writer.errors if e[0] > f.cut_at]
    print(f"\npartition -> old primary's last accepted write {last_old - f.cut_at:.3f} s; "
          f"promotion (event) {f.promoted_at - f.cut_at:.3f} s; "
          f"first write accepted through the endpoint name on the new primary {first_new - f.cut_at:.3f} s")
    assert last_old < f.promoted_at, (
        f"the old primary accepted a write {last_old - f.promoted_at:.3f} s after the promotion")
    unexpected = [e for e in refusals if not any(r in e[2] for r in (*REFUSED, "ReadOnlyError", "Connection",
                                                                      "Timeout"))]
    assert refusals and not unexpected, unexpected[:5]

    # every write the old primary accepted is on the new one, or it fell in the window
    # between the partition and the fence (accepted after the cut) and is counted
    new = fleet.redis(f.new_address, f.port, socket_timeout=2)
    lost = (missing(new, "e", f.endpoint_writer.at(f.old_address))
            + missing(new, "d", f.direct_writer.at(f.old_address)))
    in_window = [w for w in lost if w[1] >= f.cut_at]
    print(f"writes accepted by the old primary: {len(old_writes)}; not on the new primary: {len(lost)}, "
          f"all accepted in the window between the partition and the fence: {len(in_window)}")
    assert lost == in_window, f"writes accepted before the partition were lost: {sorted(set(lost) - set(in_window))[:5]}"
    assert not missing(new, "e", f.endpoint_writer.at(f.new_address)), "the new primary lost its own writes"


def test_a_standalone_redis_node_cut_off_from_the_coordinator_for_5_s_loses_no_key_and_stays_put(fleet):
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="solo", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1), timeout=5)
    cluster = fleet.wait_status("solo", "available")
    (node,) = cluster.cache_nodes
    (address,) = fleet.resolve(node.endpoint.address)
    host = fleet.host_of(address)
    assert host == node.host_id
    client = fleet.redis(address, node.endpoint.port, socket_timeout=2)
    for i in range(500):
        client.set(f"k{i}", i)
    # the README's fleet puts snapshots in the shared object store, from the node's own host
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="solo", snapshot_name="before"), timeout=5)
    wait_for(lambda: fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(snapshot_name="before"), timeout=2)
             .snapshots[0].snapshot_status == "available", 30, interval=0.1, what="snapshot available")
    assert fleet.snapshot_objects(), "the snapshot is not in the shared object store"
    assert not list(fleet.bed.dir.joinpath("coordinator").rglob("*.rdb")), "a snapshot on the coordinator's disk"

    cut_at = time.time()
    fleet.bed.cut(host, "coordinator")
    wait_for(lambda: time.time() > cut_at + 5.0, 6, interval=0.05, what="the 5 s partition")
    assert any(e.message.startswith(f"Host {host} lost") for e in fleet.events(host))
    fleet.bed.heal()
    fleet.wait_hosts("available", [host], 15)
    back_at = time.time()

    # a probe placed on that host becomes available only through cycles that saw the host back
    fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id="probe", engine="memcached", cache_node_type="cache.t1.micro", num_cache_nodes=1,
        preferred_availability_zone=f"rack-{'abc'[int(host[1:]) - 1]}"), timeout=5)
    assert fleet.wait_status("probe", "available").cache_nodes[0].host_id == host
    after = fleet.wait_status("solo", "available")
    assert [(n.cache_node_id, n.host_id) for n in after.cache_nodes] == [("0001", host)]
    assert fleet.resolve(node.endpoint.address) == [address]
    values = client.mget([f"k{i}" for i in range(500)])
    lost = [i for i, v in enumerate(values) if v != str(i).encode()]
    print(f"\nstandalone node: host cut from the coordinator 5 s, back after {back_at - cut_at:.3f} s; "
          f"keys lost {len(lost)} of 500")
    assert not lost
    assert not [e.message for e in fleet.events("solo") if "re-created" in e.message or "Recovering" in e.message]
    client.set("after", 1)


def old_engine_outcome(fleet: ServiceFleet, f: Failover) -> str | None:
    """What became of the engine the old primary ran, seen from the clients: "gone" (no longer
    listening), "replica" (following the new primary), or None while it is neither."""
    def look() -> str | None:
        try:
            info = fleet.redis(f.old_address, f.port, socket_timeout=1, socket_connect_timeout=1,
                               retry=Retry(NoBackoff(), 0)).info("replication")
        except redis.exceptions.ConnectionError:
            return "gone"
        if info["role"] == "slave" and info["master_host"] == f.new_address:
            return "replica"
        return None
    return look()


def test_the_old_primary_returns_after_the_partition_heals_as_a_replica_of_the_new_one(fleet):
    f = partition_the_primary(fleet)
    f.direct_writer.__exit__()
    try:
        assert old_engine_outcome(fleet, f) is None, "the cut-off engine changed before the heal"
        healed_at = time.time()
        fleet.bed.heal()
        fleet.wait_hosts("available", [f.old_host], 15)
        outcome = wait_for(lambda: old_engine_outcome(fleet, f), HEAL_DEADLINE_S, interval=0.1,
                           what="the old primary's engine removed or following the new primary")
        resolved_at = time.time()

        def whole() -> bool:
            g = group(fleet, "pg")
            primary = primary_of(g)
            return (g.status == "available" and primary.cache_cluster_id != f.old_member
                    and len(members(g)) == 3
                    and all(m.current_role == "replica" and m.replication_link_status == "up"
                            for m in members(g).values() if m is not primary))
        wait_for(whole, HEAL_DEADLINE_S, interval=0.1, what="the group whole: one primary, two replicas in sync")
        whole_at = time.time()
        wait_for(lambda: f.endpoint_writer.accepted[-1][1] > whole_at, 5, what="writes after the heal")
    finally:
        f.endpoint_writer.__exit__()
    g = group(fleet, "pg")
    (primary_address,) = fleet.resolve(g.node_groups[0].primary_endpoint.address)
    assert primary_address == f.new_address, "a second failover happened on the heal"
    primary = fleet.redis(primary_address, f.port, socket_timeout=2)
    new_writes = f.endpoint_writer.at(f.new_address)
    assert not missing(primary, "e", new_writes), "writes acknowledged by the new primary were lost"
    assert not [w for w in f.endpoint_writer.at(f.old_address) if w[1] > f.promoted_at], (
        "the old primary accepted a write through the endpoint after the promotion")

    # the old member: a replica of the new primary (in place, or re-created on another host)
    old = members(g)[f.old_member]
    assert old.current_role == "replica"
    (old_now,) = fleet.resolve(old.read_endpoint.address)
    replica = fleet.redis(old_now, f.port, socket_timeout=2)
    info = replica.info("replication")
    assert info["role"] == "slave" and info["master_host"] == f.new_address, info
    wait_for(lambda: not missing(replica, "e", new_writes), 10, what="the old member to hold the new primary's data")
    print(f"\nheal -> old primary's engine {outcome} after {resolved_at - healed_at:.3f} s, group whole after "
          f"{whole_at - healed_at:.3f} s; member {f.old_member} now on {fleet.host_of(old_now)}"
          f"{' (its old address)' if old_now == f.old_address else ' (re-created while its host was cut off)'}; "
          f"{len(new_writes)} writes of the new primary all kept")
