"""Cache clusters on a test fleet, used the way an application uses them: create one, resolve
a node's name through the published zone, talk to the engine on name:port."""
from __future__ import annotations

import os
import socket

from pymemcache.client.base import Client as Memcache

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.fleet import Fleet, Host


def create(fleet: Fleet, cluster_id: str, engine="memcached", nodes=1, **kw) -> pb.CacheCluster:
    return fleet.stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
        cache_cluster_id=cluster_id, engine=engine, cache_node_type=kw.pop("node_type", "cache.t1.micro"),
        num_cache_nodes=nodes, **kw), timeout=5).cache_cluster


def appendonly_group(fleet: Fleet, fsync: str, name: str = "aof", family: str = "redis7.0") -> str:
    """A parameter group with the AOF on (`appendonly yes`), fsynced as `fsync` says
    (always: a write acknowledged is on disk; everysec: but for the last second)."""
    fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name=name, cache_parameter_group_family=family, description="aof"), timeout=5)
    fleet.stub.ModifyCacheParameterGroup(pb.ModifyCacheParameterGroupRequest(
        cache_parameter_group_name=name, parameter_name_values=[
            pb.ParameterNameValue(parameter_name="appendonly", parameter_value="yes"),
            pb.ParameterNameValue(parameter_name="appendfsync", parameter_value=fsync)]), timeout=5)
    return name


def endpoint_of(fleet: Fleet, cluster: pb.CacheCluster, node_id: str) -> tuple[str, int]:
    """Resolve a node's endpoint name the way a client would, through the published zone."""
    node = next(n for n in cluster.cache_nodes if n.cache_node_id == node_id)
    (address,) = fleet.resolve(node.endpoint.address)
    return address, node.endpoint.port


def memcache(address_port) -> Memcache:
    return Memcache(address_port, connect_timeout=0.5, timeout=0.5)


def serves_memcached(address_port, key="k", value=b"v") -> bool:
    try:
        client = memcache(address_port)
        client.set(key, value)
        ok = client.get(key) == value
        client.close()
        return ok
    except Exception:  # noqa: BLE001 - whatever the client raises, the node is not serving
        return False


def port_closed(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.3).close()
        return False
    except OSError:
        return True


def a_reconcile_cycle_passes(fleet: Fleet, probe_id: str = "probe", host: Host | None = None) -> None:
    """Return once the coordinator has run whole reconcile cycles that began after this call.

    The barrier for checks that something does NOT happen: a probe cluster asked for now
    becomes available only through such cycles, and each of them reads every cluster and
    group stored before it, so whatever the test set up earlier has been looked at (and left
    alone, or acted on) by then. With `host`, the probe goes there: it becomes available only
    once that host's agent has sent a heartbeat put together after this call, so whatever the
    agent saw before the call has reached the coordinator too. The probe is deleted again."""
    create(fleet, probe_id, **({"preferred_availability_zone": host.zone} if host else {}))
    probe = fleet.wait_status(probe_id, "available", timeout=20)
    assert host is None or probe.cache_nodes[0].host_id == host.host_id, "the probe went to another host"
    fleet.stub.DeleteCacheCluster(pb.DeleteCacheClusterRequest(cache_cluster_id=probe_id), timeout=5)
    fleet.wait_gone(probe_id, timeout=20)


def listens_on(pid: int, address: str, port: int) -> bool:
    """Whether process pid listens on address:port (read from /proc, no tools needed)."""
    wanted = f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == wanted and parts[3] == "0A" and parts[9] in inodes:
                return True
    return False
