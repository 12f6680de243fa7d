"""Finding the record a request names, or refusing with its not-found error."""
from __future__ import annotations

from coordinator.domain import validation
from coordinator.domain.errors import cluster_not_found
from coordinator.domain.model import Cluster
from coordinator.state.repos import ClusterRepo


async def find_cluster(repo: ClusterRepo, cluster_id: str) -> Cluster:
    """The cluster CacheClusterId names; CacheClusterNotFound."""
    cluster = await repo.get(validation.cluster_id(cluster_id))
    if cluster is None:
        raise cluster_not_found(cluster_id.lower())
    return cluster
