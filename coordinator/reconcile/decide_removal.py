"""Whether a node's data may go when its engine is removed from a host: a pure decision.

Data is kept unless the user asked for it to go. A user's deletion (DeleteCacheCluster,
DeleteReplicationGroup, fewer nodes or replicas) discards it; so does a node the user moved
to another host by a scale, once its copy there is in sync. Everything else the coordinator
removes on its own belief (an engine a host runs that no record places there: the node was
re-created elsewhere while its host was away, its cluster is gone, a crash left it) keeps
the data: the agent sets it aside and says where, and that place becomes an event.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coordinator.domain.model import Cluster, NodeStatus, split_node_key
from coordinator.reconcile.actions import NoAction, Wait

DELETED_BY_USER = "deleted by the user"


@dataclass(frozen=True)
class RemoveEngine:
    """RemoveNode on host_id; discard: the user asked for the node's data to go."""
    host_id: str
    node_key: str
    discard: bool
    reason: str             # why the engine goes, as the set-aside event ends

    @property
    def cluster_id(self) -> str:
        return split_node_key(self.node_key)[0]

    @property
    def node_id(self) -> str:
        return split_node_key(self.node_key)[1]

    @property
    def sentence(self) -> str:
        return f"removed orphan {self.node_key} from {self.host_id}"

    @property
    def events(self) -> tuple[str, ...]:
        return ()           # known once the agent says where the data went: set_aside_event

    def set_aside_event(self, path: str) -> str:
        """What the cluster's events say when the host kept the data at path."""
        return (f"Data of cache node {self.node_id} on host {self.host_id} set aside at {path} "
                f"(not deleted): {self.reason}")


OrphanAction = RemoveEngine | Wait | NoAction


def decide_orphan(host_id: str, node_key: str, clusters: Mapping[str, Cluster]) -> OrphanAction:
    """What to do with node_key, which host_id runs but may not be its place."""
    cluster_id, node_id = split_node_key(node_key)
    cluster = clusters.get(cluster_id)
    if cluster is None:
        return RemoveEngine(host_id, node_key, False, "its cache cluster no longer exists")
    node = cluster.nodes.get(node_id)
    if node is None:
        return RemoveEngine(host_id, node_key, False, "the cache node no longer exists in its cluster")
    if node.host_id == host_id:
        return NoAction("the node's place is this host")
    if node.moved_from == host_id:
        if node.status != NodeStatus.AVAILABLE:
            return Wait(f"its copy on host {node.host_id} is not in sync yet")
        return RemoveEngine(host_id, node_key, True, f"moved to host {node.host_id} by a change the user asked for")
    return RemoveEngine(host_id, node_key, False,
                        f"the node was re-created on host {node.host_id or '(none yet)'} while its host was away")
