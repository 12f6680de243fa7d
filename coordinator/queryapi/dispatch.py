"""One Query API request, from its signed parameters to the servicer call and back.

The request is authenticated (SigV4, the key's secret from the store), its action judged by the
same role table as a gRPC call (the key's role in place of a certificate's), its parameters read
by the model's input shape into the servicer's request message, and the servicer the gRPC
server uses is called with a context that turns its abort (`Code: message`) into AWS's error.
The caller is named by the key's user name, so the audit trail and events read the same.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from google.protobuf import message_factory

from cachefleet.common.tls.authz import CALLER, api_rule
from cachefleet.common.tls.identity import Identity, IdentityError
from coordinator.api.service import CacheControl
from coordinator.queryapi import answers, messages, model, sigv4
from coordinator.queryapi.errors import QueryError, invalid
from coordinator.queryapi.params import Reader
from coordinator.state.access_keys import AccessKeys

log = structlog.get_logger("queryapi")

CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]*")

# cachefleet's parameters that stand in for members the model requires: a security group
# authorizes a CIDR range where ElastiCache names an EC2 security group and its owner
STANDS_IN: dict[str, frozenset[str]] = {"CidrIp": frozenset({"EC2SecurityGroupName", "EC2SecurityGroupOwnerId"})}


class Aborted(grpc.aio.AbortError):
    """A servicer's context.abort(): its details start with the ElastiCache code."""

    def __init__(self, status: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details

    def query_error(self) -> QueryError:
        code, sep, message = self.details.partition(": ")
        if sep and CODE.fullmatch(code):
            return QueryError(code, message)
        return QueryError("InternalFailure", self.details)


class QueryContext:
    """What the servicers use of a grpc.aio context, for a call that came over HTTP."""

    def __init__(self, peer: str) -> None:
        self._peer = peer

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise Aborted(code, details)

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    request_id: str


class Dispatcher:
    def __init__(self, cache_control: CacheControl, keys: AccessKeys,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._cache_control = cache_control
        self._keys = keys
        self._now = now
        self._signing_keys = sigv4.SigningKeys()

    async def answer(self, received: sigv4.Received, params: dict[str, str], peer: str) -> Answer:
        request_id = str(uuid.uuid4())
        try:
            body = await self._answer(received, params, peer, request_id)
        except QueryError as refusal:
            log.info("query refused", code=refusal.code, message=refusal.message, action=params.get("Action"),
                     peer=peer, request_id=request_id)
            status, body = answers.error(refusal.code, refusal.message, request_id)
            return Answer(status, body, request_id)
        return Answer(200, body, request_id)

    async def caller(self, received: sigv4.Received) -> Identity:
        """Who signed the request, with the role of their key."""
        credential = sigv4.credential_of(received)
        record = await self._keys.get(credential.access_key_id)
        if record is None or record.status != "Active":
            raise _invalid_token()
        keys = self._keys

        def scope_key(credential: sigv4.Credential) -> bytes:
            key = self._signing_keys.get(record.secret_encrypted, credential, lambda: keys.secret(record))
            if key is None:
                raise _invalid_token()
            return key
        sigv4.verify(received, credential, scope_key, self._now())
        try:
            return Identity.client(record.user_name, record.role)
        except IdentityError as exc:
            raise QueryError("InvalidClientTokenId", f"The access key cannot be used: {exc}") from None

    async def _answer(self, received: sigv4.Received, params: dict[str, str], peer: str, request_id: str) -> str:
        caller = await self.caller(received)
        params = {k: v for k, v in params.items() if k not in sigv4.QUERY_AUTH}
        action = params.pop("Action", "")
        version = params.pop("Version", "")
        if not action:
            raise QueryError("MissingAction", "The request must contain the parameter Action.")
        operation = _operation(action)
        if not version:
            raise QueryError("MissingParameter", "The request must contain the parameter Version.")
        if version != model.API_VERSION:
            raise invalid(f"Version {version} is not supported: this service speaks {model.API_VERSION}.")
        why = api_rule(f"/{model.SERVICE.full_name}/{action}", caller)
        if why is not None:
            raise QueryError("AccessDenied", f"User: {caller} is not authorized to perform: elasticache:{action}: {why}")
        request = _request(action, operation, params)
        token = CALLER.set(caller)
        try:
            response = await getattr(self._cache_control, action)(request, QueryContext(peer))
        except Aborted as aborted:
            raise aborted.query_error() from None
        finally:
            CALLER.reset(token)
        return answers.success(action, operation, response, request_id)


def _invalid_token() -> QueryError:
    return QueryError("InvalidClientTokenId", "The security token included in the request is invalid.")


def _operation(action: str) -> Any:
    if action not in model.implemented():
        if action in model.service_model().operation_names:
            raise QueryError("InvalidAction", f"The action {action} is not implemented by cachefleet.")
        raise QueryError("InvalidAction", f"Could not find operation {action} for version {model.API_VERSION}.")
    return model.operation(action)


def _request(action: str, operation: Any, params: dict[str, str]) -> Any:
    """The servicer's request message for these parameters, read by the operation's input shape."""
    method = model.SERVICE.methods_by_name[action]
    request = message_factory.GetMessageClass(method.input_type)()
    reader = Reader(params, frozenset().union(*(STANDS_IN.get(k, frozenset()) for k in params)))
    if operation.input_shape is not None:
        messages.fill(request, reader.structure(operation.input_shape))
    messages.fill_extensions(request, {k: v for k, v in params.items() if k not in reader.used})
    return request
