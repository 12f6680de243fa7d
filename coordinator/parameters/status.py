"""Whether a cluster's nodes run its parameter group's values: in-sync, applying, or
pending-reboot (naming the nodes). Shared by DescribeCacheClusters and the maintenance
window, which reboots the nodes that wait for it."""
from __future__ import annotations

from coordinator.domain.model import Cluster
from coordinator.domain.node_types import CATALOG

from coordinator.parameters.groups import effective_parameters, max_memory_mb


def apply_status(cluster: Cluster, hosts) -> tuple[str, list[str]]:
    """(in-sync | applying | pending-reboot, node ids that need a reboot); `hosts` is the
    registry's host id -> HostState map."""
    applying, reboot = False, []
    for node in sorted(cluster.live_nodes, key=lambda n: n.node_id):
        host = hosts.get(node.host_id or "")
        reported = host.nodes.get(cluster.node_key(node.node_id)) if host else None
        if reported is None or not reported.HasField("spec"):
            continue
        version = cluster.node_version(node)
        wanted, immediate = effective_parameters(cluster, version=version)
        memory = max_memory_mb(cluster, CATALOG[cluster.node_type].memory_mb, version=version)
        if dict(reported.spec.parameters) != wanted or reported.spec.max_memory_mb != memory:
            applying = True
            continue
        applied = dict(reported.applied_parameters)
        differ = {n for n in set(wanted) | set(applied) if wanted.get(n) != applied.get(n)}
        if differ & set(immediate) or (cluster.engine == "redis" and reported.applied_max_memory_mb != memory):
            applying = True
        if differ - set(immediate):
            reboot.append(node.node_id)
    if applying:
        return "applying", reboot
    return ("pending-reboot" if reboot else "in-sync"), reboot
