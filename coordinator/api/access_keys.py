"""The access key RPCs of CacheControl (admin only, by the role table): keys for the Query API.

A key acts with the role it was created with, as a client certificate does; it is named in
events by its user name. Deleting a key refuses its next request.
"""
from __future__ import annotations

from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.common.tls.identity import IdentityError, Role, check_name
from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import invalid
from coordinator.state.access_keys import AccessKeyRecord, AccessKeys, no_such_key


def key_message(record: AccessKeyRecord, secret: str = "") -> pb.AccessKey:
    created = Timestamp()
    created.FromNanoseconds(int(record.created * 1e9))
    return pb.AccessKey(access_key_id=record.access_key_id, secret_access_key=secret, status=record.status,
                        role=record.role, user_name=record.user_name, create_date=created)


class AccessKeyServicer:
    def __init__(self, keys: AccessKeys, clock: Callable[[], float]) -> None:
        self._keys = keys
        self._clock = clock

    @rpc_errors
    async def CreateAccessKey(self, request, context):
        if request.role not in {r.value for r in Role}:
            raise invalid(f"Role must be one of {', '.join(r.value for r in Role)}, not {request.role!r}.")
        if request.user_name:
            try:
                check_name(request.user_name, "user name")
            except IdentityError as exc:
                raise invalid(str(exc)) from None
        record, secret = await self._keys.create(request.role, request.user_name, self._clock())
        return pb.CreateAccessKeyResponse(access_key=key_message(record, secret))

    @rpc_errors
    async def ListAccessKeys(self, request, context):
        keys = sorted(await self._keys.all(), key=lambda k: (k.user_name, k.created))
        return pb.ListAccessKeysResponse(access_key_metadata=[key_message(k) for k in keys])

    @rpc_errors
    async def DeleteAccessKey(self, request, context):
        if not await self._keys.delete(request.access_key_id):
            raise no_such_key(request.access_key_id)
        return pb.DeleteAccessKeyResponse()
