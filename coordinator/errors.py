"""Domain errors carrying ElastiCache error codes, and their gRPC status codes.

Every rejected request raises ApiError; the servicer decorator turns it into
`<status>` with the message `<Code>: <text>` (ElastiCache's code first), so
callers and the CLI can read the code without parsing anything else.
"""
from __future__ import annotations

import grpc

# ElastiCache error code -> gRPC status. One table, used by every servicer.
STATUS_BY_CODE: dict[str, grpc.StatusCode] = {
    "InvalidParameterValue": grpc.StatusCode.INVALID_ARGUMENT,
    "InvalidParameterCombination": grpc.StatusCode.INVALID_ARGUMENT,
    "MissingParameter": grpc.StatusCode.INVALID_ARGUMENT,
    "CacheClusterAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "CacheClusterNotFound": grpc.StatusCode.NOT_FOUND,
    "InvalidCacheClusterState": grpc.StatusCode.FAILED_PRECONDITION,
    "NodeQuotaForClusterExceeded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "InsufficientCacheClusterCapacity": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "ReplicationGroupAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "ReplicationGroupNotFoundFault": grpc.StatusCode.NOT_FOUND,
    "InvalidReplicationGroupState": grpc.StatusCode.FAILED_PRECONDITION,
    "NodeGroupNotFoundFault": grpc.StatusCode.NOT_FOUND,
    "CacheParameterGroupAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "CacheParameterGroupNotFound": grpc.StatusCode.NOT_FOUND,
    "InvalidCacheParameterGroupState": grpc.StatusCode.FAILED_PRECONDITION,
    "ResourceNotFound": grpc.StatusCode.NOT_FOUND,          # CloudWatch's (DeleteAlarms)
    "SnapshotAlreadyExistsFault": grpc.StatusCode.ALREADY_EXISTS,
    "SnapshotNotFoundFault": grpc.StatusCode.NOT_FOUND,
    "InvalidSnapshotState": grpc.StatusCode.FAILED_PRECONDITION,
    "SnapshotFeatureNotSupportedFault": grpc.StatusCode.FAILED_PRECONDITION,
    "InternalFailure": grpc.StatusCode.INTERNAL,
    "ServiceUnavailable": grpc.StatusCode.UNAVAILABLE,
}


class ApiError(Exception):
    """A request refused with an ElastiCache error code; nothing was changed."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def status(self) -> grpc.StatusCode:
        return STATUS_BY_CODE.get(self.code, grpc.StatusCode.UNKNOWN)


def invalid(message: str) -> ApiError:
    return ApiError("InvalidParameterValue", message)


def combination(message: str) -> ApiError:
    return ApiError("InvalidParameterCombination", message)


def cluster_not_found(cluster_id: str) -> ApiError:
    return ApiError("CacheClusterNotFound", f"Cache cluster {cluster_id} not found.")


def cluster_state(cluster_id: str, status: str) -> ApiError:
    return ApiError("InvalidCacheClusterState",
                    f"Cache cluster {cluster_id} is not in available state (it is {status}).")


def group_member(cluster, what_to_do: str = "") -> ApiError:
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


def rpc_errors(method):
    """Servicer decorator: ApiError -> its status and `Code: message`; anything else -> a
    logged InternalFailure without a stack trace for the caller. The server keeps serving."""
    import functools

    import structlog

    from .store import StoreError

    log = structlog.get_logger("api")

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ApiError as exc:
            log.info("request refused", rpc=method.__name__, code=exc.code, message=exc.message)
            await context.abort(exc.status, str(exc))
        except StoreError as exc:
            log.error("store error", rpc=method.__name__, error=str(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ServiceUnavailable: the state store failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - the daemon must survive any request
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("request failed", rpc=method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"InternalFailure: {type(exc).__name__}: {exc}")
    return wrapper
