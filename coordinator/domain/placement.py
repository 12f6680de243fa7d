"""Placement: which hosts a cluster's nodes go to, and which port the cluster uses.

Nodes of one cluster spread over hosts first, then zones; a host takes a node
only if it runs the engine version, has the node type's memory free, and has the
cluster's port free. Pure functions over a snapshot, so they are easy to test.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.errors import insufficient_capacity
from coordinator.domain.model import Cluster
from coordinator.domain.node_types import CATALOG

DEFAULT_PORTS = {"memcached": 11211, "redis": 6379}
PORT_SEARCH_LIMIT = 2000


@dataclass
class HostView:
    """What placement needs to know of one live host."""
    host_id: str
    zone: str
    addresses: list[str]              # the host's address first, then any extra ones it announced
    memory_mb: int
    engines: dict[str, set[str]]
    allocated_mb: int = 0
    ports: dict[str, set[int]] = field(default_factory=dict)   # address -> ports taken there
    tls_engines: dict[str, set[str]] = field(default_factory=dict)   # the versions built with TLS

    def runs(self, cluster: Cluster) -> bool:
        """Whether the host has the cluster's engine version (built with TLS, if it serves TLS)."""
        have = self.tls_engines if cluster.transit_encryption_mode else self.engines
        return cluster.engine_version in have.get(cluster.engine, set())

    def free_mb(self) -> int:
        return self.memory_mb - self.allocated_mb

    def address_for(self, port: int, *more: int) -> str | None:
        """The first of the host's addresses where `port` (and every port in `more`) is still free."""
        return next((a for a in self.addresses if not self.ports.get(a, set()) & {port, *more}), None)


@dataclass(frozen=True)
class Slot:
    """Where one node goes: a host, and the address on it that the node binds."""
    host: HostView
    address: str


def account_usage(hosts: dict[str, HostView], clusters: list[Cluster]) -> None:
    """Charge every placed node's memory to its host and its cluster's port to its address."""
    for cluster in clusters:
        memory = CATALOG[cluster.node_type].memory_mb
        for node in cluster.nodes.values():
            host = hosts.get(node.host_id or "")
            if host is not None:
                host.allocated_mb += memory
                host.ports.setdefault(node.address, set()).add(cluster.port)
                for extra in (cluster.config_port, cluster.plaintext_port):  # configuration endpoint,
                    if extra:                                                # plaintext beside TLS
                        host.ports[node.address].add(extra)


def place_nodes(hosts: list[HostView], cluster: Cluster, count: int, zones: list[str | None],
                port: int, distinct_hosts: bool = False) -> list[Slot]:
    """Pick a host and address for each of `count` new nodes of `cluster`, and charge them.

    zones[i] (or None) is the zone node i must go to. With distinct_hosts, no host gets a
    second node of `cluster` (replication group members). Raises InsufficientCacheClusterCapacity.
    """
    memory = CATALOG[cluster.node_type].memory_mb
    # a memcached cluster's configuration endpoint listens beside each node on its own port
    more = tuple(p for p in (cluster.config_port, cluster.plaintext_port) if p)
    per_host = Counter(n.host_id for n in cluster.nodes.values() if n.host_id)
    per_zone = Counter(n.zone for n in cluster.nodes.values() if n.host_id)
    chosen: list[Slot] = []
    for i in range(count):
        zone = zones[i] if i < len(zones) else None
        candidates = [h for h in hosts
                      if h.runs(cluster)
                      and h.free_mb() >= memory
                      and h.address_for(port, *more) is not None
                      and (zone is None or h.zone == zone)
                      and not (distinct_hosts and per_host[h.host_id])]
        if not candidates:
            raise insufficient_capacity(_shortage(hosts, cluster, count - i, zone, port, more, memory,
                                                  distinct_hosts, per_host))
        best = min(candidates, key=lambda h: (per_host[h.host_id], per_zone[h.zone], -h.free_mb(), h.host_id))
        address = best.address_for(port, *more)
        assert address is not None          # candidates all have the port free somewhere
        best.allocated_mb += memory
        best.ports.setdefault(address, set()).update((port, *more))
        per_host[best.host_id] += 1
        per_zone[best.zone] += 1
        chosen.append(Slot(best, address))
    return chosen


def _shortage(hosts: list[HostView], cluster: Cluster, remaining: int, zone: str | None, port: int,
              more: tuple[int, ...], memory: int, distinct_hosts: bool, per_host: Counter[str]) -> str:
    """Why no host can take the next node, naming the constraint that binds: the engine
    version, the zone, one group member per host, one node of a cluster per address (its
    port), or memory. Hosts are judged in that order, each by the first rule it fails."""
    label = (f"replication group {cluster.replication_group_id or cluster.cluster_id}" if distinct_hosts
             else f"cache cluster {cluster.cluster_id}")
    running = [h for h in hosts if h.runs(cluster)]
    built = " built with TLS" if cluster.transit_encryption_mode else ""
    if not running:
        return (f"No live host runs {cluster.engine} {cluster.engine_version}{built} "
                f"(the fleet has {len(hosts)} live host{'s' * (len(hosts) != 1)}).")
    in_zone = [h for h in running if zone is None or h.zone == zone]
    if not in_zone:
        return f"No live host in zone {zone} runs {cluster.engine} {cluster.engine_version}{built}."
    where = f" in zone {zone}" if zone else ""
    fleet = f"the fleet has {len(in_zone)} live host{'s' * (len(in_zone) != 1)}{where}"
    member = [h for h in in_zone if distinct_hosts and per_host[h.host_id]]
    no_port = [h for h in in_zone if h not in member and h.address_for(port, *more) is None]
    no_memory = [h for h in in_zone if h not in member and h not in no_port]
    placed = sum(per_host.values())
    if len(member) == len(in_zone):
        return (f"{label} would need {placed + remaining} hosts (one member per host); {fleet}.")
    if len(member) + len(no_port) == len(in_zone):
        addresses = sum(len(h.addresses) for h in in_zone)
        return (f"No host has an address with port {port} free for another node of {label}: it would need "
                f"{placed + remaining} host addresses (one node per address: all nodes of a cluster listen "
                f"on port {port}); {fleet} with {addresses} address{'es' * (addresses != 1)}.")
    short = ", ".join(f"{h.host_id} {max(0, h.free_mb())} MB" for h in no_memory)
    return (f"No host{where} has {memory} MB free for another {cluster.node_type} node of {label} "
            f"(free: {short}; {placed + remaining} nodes wanted, {remaining} not placed).")


def place_new_cluster(hosts: dict[str, HostView], cluster: Cluster, count: int, zones: list[str | None],
                      requested_port: int | None, distinct_hosts: bool = False) -> tuple[int, list[Slot]]:
    """Choose the cluster's port (the requested one, else the engine's default, else the next
    one that fits) together with its nodes' slots."""
    if requested_port is not None:
        return requested_port, place_nodes(list(hosts.values()), cluster, count, zones, requested_port,
                                           distinct_hosts)
    first = DEFAULT_PORTS[cluster.engine]
    candidates = range(first, first + PORT_SEARCH_LIMIT)
    # Prefer a port free on every host of the fleet, so that any host can take a node
    # of this cluster later (a replacement keeps the port); else one free where it fits.
    used = {p for h in hosts.values() for taken in h.ports.values() for p in taken}
    preferred = [p for p in candidates if p not in used][:50]
    chosen_first = set(preferred)
    error = None
    for port in preferred + [p for p in candidates if p not in chosen_first]:
        trial = {k: copy_view(v) for k, v in hosts.items()}
        try:
            slots = place_nodes(list(trial.values()), cluster, count, zones, port, distinct_hosts)
        except Exception as exc:  # ApiError: try the next port
            error = error or exc
            if not any(h.address_for(port) is None for h in hosts.values()):
                raise  # the port was not the problem: memory, engine or zone is
            continue
        hosts.update(trial)
        return port, [Slot(hosts[s.host.host_id], s.address) for s in slots]
    raise error or insufficient_capacity("No free port on the hosts available.")


def choose_config_port(hosts: dict[str, HostView], port: int, slots: list[Slot]) -> int:
    """A memcached cluster's configuration port: the first one after its node port that is free
    on every address its nodes use (preferably on every address of the fleet, so a replacement
    node anywhere can take it too); charged to those addresses."""
    candidates = [p for p in range(port + 1, port + PORT_SEARCH_LIMIT) if p < 65536]
    used = {p for h in hosts.values() for taken in h.ports.values() for p in taken}
    fits = [p for p in candidates if all(p not in s.host.ports.get(s.address, set()) for s in slots)]
    chosen = next((p for p in fits if p not in used), None) or next(iter(fits), None)
    if chosen is None:
        raise insufficient_capacity(f"No free port for the configuration endpoint after port {port}.")
    for slot in slots:
        slot.host.ports.setdefault(slot.address, set()).add(chosen)
    return chosen


class LiveHost(Protocol):
    """A live host as the registry holds it (state.registry.HostState)."""

    @property
    def host_id(self) -> str: ...

    @property
    def info(self) -> agent_pb.HostInfo: ...


def copy_view(view: HostView) -> HostView:
    return HostView(view.host_id, view.zone, list(view.addresses), view.memory_mb, view.engines,
                    view.allocated_mb, {a: set(p) for a, p in view.ports.items()}, view.tls_engines)


def host_views(live_hosts: Iterable[LiveHost], clusters: list[Cluster]) -> dict[str, HostView]:
    """Placement's view of the live hosts (registry HostStates), usage charged from `clusters`."""
    views = {}
    for state in live_hosts:
        engines: dict[str, set[str]] = {}
        tls: dict[str, set[str]] = {}
        for install in state.info.engines:
            engines.setdefault(install.engine, set()).add(install.version)
            if install.tls:
                tls.setdefault(install.engine, set()).add(install.version)
        addresses = [state.info.address] + [a for a in state.info.extra_addresses if a != state.info.address]
        views[state.host_id] = HostView(state.host_id, state.info.availability_zone, addresses,
                                        state.info.memory_mb, engines, tls_engines=tls)
    account_usage(views, clusters)
    return views
