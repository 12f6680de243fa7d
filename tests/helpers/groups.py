"""Redis replication groups on a test fleet: create, describe and wait for one, find its
primary, and a client (and a writer) on its endpoint names, resolved on every reconnect."""
from __future__ import annotations

import threading
import time

import grpc
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import listens_on
from tests.helpers.fleet import Fleet, wait_for


def create_group(fleet: Fleet, group_id: str, clusters: int = 3, failover: bool = True, **kw) -> pb.ReplicationGroup:
    return fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
        replication_group_id=group_id, replication_group_description=f"{group_id} for tests",
        num_cache_clusters=clusters, automatic_failover_enabled=failover,
        cache_node_type="cache.t1.micro", **kw), timeout=5).replication_group


def group(fleet: Fleet, group_id: str) -> pb.ReplicationGroup | None:
    try:
        return fleet.stub.DescribeReplicationGroups(
            pb.DescribeReplicationGroupsRequest(replication_group_id=group_id), timeout=2).replication_groups[0]
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def wait_group(fleet: Fleet, group_id: str, status: str = "available", timeout: float = 20) -> pb.ReplicationGroup:
    return wait_for(lambda: (g := group(fleet, group_id)) is not None and g.status == status and g, timeout,
                    what=f"group {group_id} {status}")


def members(g: pb.ReplicationGroup) -> dict[str, pb.NodeGroupMember]:
    return {m.cache_cluster_id: m for m in g.node_groups[0].node_group_members}


def primary_of(g: pb.ReplicationGroup) -> pb.NodeGroupMember:
    return next(m for m in members(g).values() if m.current_role == "primary")


def client_for(fleet: Fleet, name: str, port: int) -> redis.Redis:
    """A client on the address the name resolves to now; no retries of redis-py's own
    (they back off for seconds): the caller reconnects, resolving the name again."""
    (address,) = fleet.resolve(name)
    return redis.Redis(host=address, port=port, socket_timeout=1, socket_connect_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))


def engine_pid(fleet: Fleet, address: str, port: int) -> int:
    host = fleet.host_by_address(address)
    return next(p for p in host.engine_pids() if listens_on(p, address, port))


class Writer:
    """Writes w0, w1, ... through the primary endpoint, resolving the name on every
    reconnect. `accepted` times every SET answered OK; `acked` lists the writes that WAIT
    also confirmed on a replica (those no failover may lose)."""

    def __init__(self, fleet: Fleet, name: str, port: int):
        self.fleet, self.name, self.port = fleet, name, port
        self.acked: list[int] = []
        self.ack_times: list[float] = []
        self.accept_times: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        client, n = None, 0
        while not self.stop.is_set():
            try:
                if client is None:
                    client = client_for(self.fleet, self.name, self.port)
                client.set(f"w{n}", n)
                self.accept_times.append(time.monotonic())
                if client.wait(1, 500) >= 1:
                    self.acked.append(n)
                    self.ack_times.append(time.monotonic())
                n += 1
            except (redis.exceptions.RedisError, OSError, ValueError):
                client = None
                time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: len(self.acked) > 20, 5, what="writes flowing")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)

    def first_accept_after(self, t: float) -> float | None:
        return next((a for a in self.accept_times if a > t), None)


class MemberWrites:
    """A writer on each member's own address (not the endpoint name): SET every 10 ms, recording
    which address acknowledged each write and when. Replicas answer READONLY, so the acks say
    which engine took writes as a primary, and when: two primaries at once show as overlapping
    spans."""

    def __init__(self, addresses: list[str], port: int):
        self.port = port
        self.acks: list[tuple[float, str]] = []     # (monotonic time, address)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(a,), daemon=True) for a in addresses]

    def run(self, address: str) -> None:
        client, n = None, 0
        while not self.stop.wait(0.01):
            try:
                if client is None:
                    client = redis.Redis(host=address, port=self.port, socket_timeout=0.5,
                                         socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0))
                client.set(f"probe:{address}:{n}", n)
                self.acks.append((time.monotonic(), address))
                n += 1
            except (redis.exceptions.RedisError, OSError, ValueError):
                client = None

    def spans(self) -> dict[str, tuple[float, float]]:
        """address -> (first, last) acknowledged write."""
        out: dict[str, tuple[float, float]] = {}
        for at, address in self.acks:
            first, last = out.get(address, (at, at))
            out[address] = (min(first, at), max(last, at))
        return out

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of addresses that both took writes within one span of time."""
        spans = sorted(self.spans().items(), key=lambda item: item[1][0])
        return [(a, b) for (a, (_, a_last)), (b, (b_first, _)) in zip(spans, spans[1:]) if b_first <= a_last]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        wait_for(lambda: self.acks, 5, what="a member acknowledging writes")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
