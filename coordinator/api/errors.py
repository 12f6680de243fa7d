"""How refusals and failures reach a gRPC caller: one table, one decorator for every servicer.

A refused request (ApiError) gets the gRPC status of its ElastiCache error code and the
message `<Code>: <text>`, so callers and the CLI read the code without parsing anything
else; a store failure is UNAVAILABLE; anything else is a logged InternalFailure without a
stack trace for the caller. The server keeps serving.
"""
from __future__ import annotations

import functools

import grpc
import structlog

from coordinator.domain.errors import ApiError
from coordinator.state.store import StoreError

log = structlog.get_logger("api")

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
    "CacheSecurityGroupAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "CacheSecurityGroupNotFound": grpc.StatusCode.NOT_FOUND,
    "InvalidCacheSecurityGroupState": grpc.StatusCode.FAILED_PRECONDITION,
    "AuthorizationAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "AuthorizationNotFound": grpc.StatusCode.NOT_FOUND,
    "AuthorizationQuotaExceeded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UserAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "UserNotFound": grpc.StatusCode.NOT_FOUND,
    "DuplicateUserName": grpc.StatusCode.INVALID_ARGUMENT,
    "InvalidUserState": grpc.StatusCode.FAILED_PRECONDITION,
    "DefaultUserAssociatedToUserGroup": grpc.StatusCode.FAILED_PRECONDITION,
    "UserGroupAlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "UserGroupNotFound": grpc.StatusCode.NOT_FOUND,
    "DefaultUserRequired": grpc.StatusCode.INVALID_ARGUMENT,
    "InvalidUserGroupState": grpc.StatusCode.FAILED_PRECONDITION,
    "Throttling": grpc.StatusCode.RESOURCE_EXHAUSTED,          # a caller sends faster than it is served
    "InternalFailure": grpc.StatusCode.INTERNAL,
    "ServiceUnavailable": grpc.StatusCode.UNAVAILABLE,
    "NotLeader": grpc.StatusCode.FAILED_PRECONDITION,          # several coordinators: ask the leader
    "AccessDenied": grpc.StatusCode.PERMISSION_DENIED,
    "NoSuchEntity": grpc.StatusCode.NOT_FOUND,                # IAM's: an access key that is not there
}


def status_of(error: ApiError) -> grpc.StatusCode:
    return STATUS_BY_CODE.get(error.code, grpc.StatusCode.UNKNOWN)


def rpc_errors(method):
    """Servicer decorator: ApiError -> its status and `Code: message`; anything else -> a
    logged InternalFailure. The server keeps serving."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ApiError as exc:
            log.info("request refused", rpc=method.__name__, code=exc.code, message=exc.message)
            await context.abort(status_of(exc), str(exc))
        except StoreError as exc:
            log.error("store error", rpc=method.__name__, error=str(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ServiceUnavailable: the state store failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - the daemon must survive any request
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("request failed", rpc=method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"InternalFailure: {type(exc).__name__}: {exc}")
    return wrapper
