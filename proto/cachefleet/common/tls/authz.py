"""Who may call what: a server interceptor that names every caller by its certificate and
refuses the calls its rule does not allow, before the servicer sees the request.

A rule gets the method's full name and the caller's identity and returns why the call is
refused, or None. Health checks and reflection are open to any caller the TLS handshake let
in (load balancers and grpcurl use them). The caller is kept in `CALLER` while the servicer
runs, so what it records (events) can name who asked.

In plaintext mode (--insecure) nobody can be told apart: every call is let through with no
caller, which is what --insecure warns about.
"""
from __future__ import annotations

import contextvars
import enum
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from cachefleet.common.guarded import guarded
from cachefleet.common.tls.identity import Identity, IdentityError, Kind, Role, peer_identity

Rule = Callable[[str, Identity], "str | None"]

CALLER: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("cachefleet_caller", default=None)

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")


class Refusal(enum.Enum):
    UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
    DENIED = grpc.StatusCode.PERMISSION_DENIED


class Authorization(grpc.aio.ServerInterceptor):
    def __init__(self, rule: Rule) -> None:
        self._rule = rule

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        return guarded(handler, lambda context: self._admit(method, context))

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        try:
            caller = peer_identity(context)
        except IdentityError as error:
            await context.abort(Refusal.UNAUTHENTICATED.value, f"AccessDenied: {error}")
            raise AssertionError("unreachable") from None   # abort raises
        why = self._rule(method, caller)
        if why is not None:
            await context.abort(Refusal.DENIED.value, f"AccessDenied: {caller} may not call "
                                f"{method.rsplit('/', 1)[-1]}: {why}")
        CALLER.set(caller)


def needed_role(method: str) -> Role:
    """The least role that may call a CacheControl or CacheWatch method: reading is readonly;
    creating, changing, rebooting, snapshotting and failing over is operator; deleting,
    parameter groups, security groups and users (they change every cluster that uses them;
    security groups and users decide who reaches the data) are admin, and so are access keys,
    even listing them (a key is a credential of whatever role it carries)."""
    name = method.rsplit("/", 1)[-1]
    if "AccessKey" in name:
        return Role.ADMIN
    if name.startswith(("Describe", "List", "Get", "Watch")):
        return Role.READONLY
    if "ParameterGroup" in name or "SecurityGroup" in name or "User" in name or name.startswith("Delete"):
        return Role.ADMIN
    if name.startswith(("Create", "Modify", "Reboot", "Copy", "TestFailover", "Increase", "Decrease",
                        "PutMetricAlarm")):
        return Role.OPERATOR
    return Role.ADMIN   # anything new is admin until someone decides otherwise


def api_rule(method: str, caller: Identity) -> str | None:
    """The public API: clients by their role; coordinators (each other, later) for everything."""
    if caller.kind is Kind.COORDINATOR:
        return None
    if caller.kind is not Kind.CLIENT or caller.role is None:
        return "only client certificates call the API"
    needed = needed_role(method)
    if not caller.role.allows(needed):
        return f"it needs the {needed.value} role, the certificate gives {caller.role.value}"
    return None
