"""How clusters and replication groups name a parameter group, and how far their nodes run it.

Shared by the cluster, replication group and parameter group servicers: the group a
request names, whether it fits a cluster (family, memory), making a cluster or every
member of a replication group run it, and `CacheParameterGroupStatus` from what the
agents report their nodes run.
"""
from __future__ import annotations

import math

from cachefleet.v1 import cache_control_pb2 as pb

from cachefleet.common import versions

from coordinator.domain.errors import combination
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.domain.node_types import CATALOG
from coordinator.parameters import ParameterGroup, ParameterGroupRepo, default_name, group_of
from coordinator.parameters.groups import MIB, not_found
from coordinator.parameters.status import apply_status
from coordinator.state.registry import HostRegistry


class ParameterGroupUse:
    def __init__(self, parameter_groups: ParameterGroupRepo, registry: HostRegistry) -> None:
        self.parameter_groups = parameter_groups
        self.registry = registry

    async def named(self, name: str) -> ParameterGroup | None:
        """The group a request names (None when it names none); CacheParameterGroupNotFound."""
        if not name:
            return None
        group = await self.parameter_groups.get(name.lower())
        if group is None:
            raise not_found(name.lower())
        return group

    @staticmethod
    def check_fits(group: ParameterGroup, engine: str, version: str, node_type: str) -> None:
        """A group of the cluster's family, whose reserved-memory leaves the node some memory."""
        family = versions.family(engine, version)
        if group.family != family:
            raise combination(f"CacheParameterGroup {group.name} is of family {group.family}; "
                              f"{engine} {version} needs a group of family {family}.")
        node = CATALOG.get(node_type)
        if node is None:
            return
        reserved = int(group.values.get("reserved-memory", "0"))
        if math.ceil(reserved / MIB) >= node.memory_mb:
            raise combination(f"reserved-memory {reserved} of CacheParameterGroup {group.name} leaves no "
                              f"memory on a {node_type} node ({node.memory_mb} MB).")
        item = int(group.values.get("max_item_size", "0"))
        if item * 2 > node.memory_mb * MIB:
            raise combination(f"max_item_size {item} of CacheParameterGroup {group.name} is more than half "
                              f"the memory of a {node_type} node ({node.memory_mb} MB).")

    def use(self, cluster: Cluster, group: ParameterGroup) -> bool:
        """Make cluster run group (checked first); whether that changed anything."""
        self.check_fits(group, cluster.engine, cluster.engine_version, cluster.node_type)
        name = "" if group.name == default_name(group.family) else group.name
        if cluster.parameter_group == name:
            return False
        cluster.parameter_group = name
        return True

    def use_in_group(self, g: ReplicationGroup, members: dict[str, Cluster], group: ParameterGroup) -> bool:
        """Every member of a replication group runs the group's parameter group."""
        changed = False
        for cluster in members.values():
            if cluster is not None:
                changed = self.use(cluster, group) or changed
        g.parameter_group = "" if group.name == default_name(group.family) else group.name
        return changed

    def status(self, cluster: Cluster) -> pb.CacheParameterGroupStatus:
        """in-sync when every node runs the group's values; applying while immediate ones are on
        their way; pending-reboot (naming the nodes) while requires-reboot ones wait."""
        state, reboot = apply_status(cluster, self.registry.hosts)
        return pb.CacheParameterGroupStatus(cache_parameter_group_name=group_of(cluster),
                                            parameter_apply_status=state, cache_node_ids_to_reboot=reboot)
