"""Domain errors carrying ElastiCache error codes.

Every rejected request raises ApiError before anything is written; the API layer
(coordinator/api/errors.py) gives it its gRPC status and the message `<Code>: <text>`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:     # the model imports nothing of ours: no cycle, but only the type is needed
    from coordinator.domain.model import Cluster


class ApiError(Exception):
    """A request refused with an ElastiCache error code; nothing was changed."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError("InvalidParameterValue", message)


def combination(message: str) -> ApiError:
    return ApiError("InvalidParameterCombination", message)


def cluster_not_found(cluster_id: str) -> ApiError:
    return ApiError("CacheClusterNotFound", f"Cache cluster {cluster_id} not found.")


def cluster_state(cluster_id: str, status: str) -> ApiError:
    return ApiError("InvalidCacheClusterState",
                    f"Cache cluster {cluster_id} is not in available state (it is {status}).")


def group_member(cluster: Cluster, what_to_do: str = "") -> ApiError:
    """A request a replication group's member cluster cannot take on its own."""
    return ApiError("InvalidCacheClusterState", f"Cache cluster {cluster.cluster_id} is a member of replication "
                    f"group {cluster.replication_group_id}" + (f": {what_to_do}" if what_to_do else "."))


def group_not_found(group_id: str) -> ApiError:
    return ApiError("ReplicationGroupNotFoundFault", f"Replication group {group_id} not found.")


def group_state(group_id: str, status: str) -> ApiError:
    return ApiError("InvalidReplicationGroupState",
                    f"Replication group {group_id} is not in available state (it is {status}).")


def insufficient_capacity(message: str) -> ApiError:
    return ApiError("InsufficientCacheClusterCapacity", message)
