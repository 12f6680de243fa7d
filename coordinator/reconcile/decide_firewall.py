"""Cache security groups, the decision: which sources each host lets in to which port.

Every node's port (and a memcached cluster's configuration port, which lists its nodes) takes
connections only from the CIDR ranges of its cluster's security groups and from the fleet's
own hosts (replicas sync from primaries, agents probe engines, replicas' agents look at their
primary). A pure function of the records and the hosts, so the rules are tested in-process;
reconcile/firewall.py sends them.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from coordinator.domain import security_groups as sg
from coordinator.domain.model import Cluster

LOOPBACK_SOURCE = "127.0.0.1/32"


@dataclass(frozen=True)
class GuardedPort:
    address: str
    port: int
    cidrs: tuple[str, ...]
    cluster_id: str


def cidrs_of(cluster: Cluster, groups: Mapping[str, sg.SecurityGroup]) -> tuple[str, ...]:
    """Every range the cluster's groups authorize, once each, sorted; a group gone lets nothing in."""
    found: set[str] = set()
    for name in sg.effective(cluster.security_groups):
        group = groups.get(name)
        if group is not None:
            found.update(group.cidrs)
    return tuple(sorted(found))


def ports_by_host(clusters: Iterable[Cluster], groups: Mapping[str, sg.SecurityGroup]) -> dict[str, list[GuardedPort]]:
    """host id -> the ports it guards: one per node placed there (deleting ones too: the
    engine runs until removed), and the configuration port beside a memcached node."""
    wanted: dict[str, list[GuardedPort]] = {}
    for cluster in clusters:
        cidrs = cidrs_of(cluster, groups)
        for node in cluster.nodes.values():
            if not node.host_id or not node.address:
                continue
            numbers = [cluster.port] + ([cluster.config_port] if cluster.config_port else [])
            wanted.setdefault(node.host_id, []).extend(
                GuardedPort(node.address, number, cidrs, cluster.cluster_id) for number in numbers if number)
    for guarded in wanted.values():
        guarded.sort(key=lambda p: (p.address, p.port))
    return wanted


def fleet_sources(addresses: Iterable[str]) -> list[str]:
    """The fleet's hosts as single-address ranges. A host on a loopback address (a local fleet)
    reaches its engines from 127.0.0.1, the kernel's source for loopback, so that is a host too."""
    found: set[str] = set()
    for address in addresses:
        ip = ipaddress.ip_address(address)
        found.add(str(ipaddress.ip_network(ip)))
        if ip.is_loopback and ip.version == 4:
            found.add(LOOPBACK_SOURCE)
    return sorted(found)
