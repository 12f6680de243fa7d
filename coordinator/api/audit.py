"""The audit trail: every mutating API call leaves an event that names its caller.

Events recorded while a call runs carry the caller's certificate (EventLog reads it from the
call's context). A mutating call that records nothing of its own (a parameter group created,
a snapshot copied, an alarm deleted) gets one event here, "<Action> called by <caller>", on the
resource its request names, so `describe-events --caller NAME` lists everything a certificate
changed. Refused calls change nothing and leave no event (the log says who was refused).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from cachefleet.common.tls.authz import needed_role
from cachefleet.common.tls.identity import Role
from coordinator.state.events import CALL_EVENTS, EventLog, current_caller

# request field -> the event source it names, first match wins (a snapshot of a group is the group's)
SOURCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("replication_group_id", "replication-group"),
    ("cache_cluster_id", "cache-cluster"),
    ("cache_parameter_group_name", "cache-parameter-group"),
    ("cache_security_group_name", "cache-security-group"),
    ("target_snapshot_name", "snapshot"),
    ("snapshot_name", "snapshot"),
    ("alarm_name", "alarm"),
    ("alarm_names", "alarm"),
    ("user_group_id", "user-group"),
    ("user_id", "user"),
    ("access_key_id", "access-key"),
)
# Request fields that hold a secret (an AUTH token, a user's passwords): nothing here reads
# them, and no event, log line or reply repeats them (tests/unit/test_auth.py checks).
SECRET_FIELDS = frozenset({"auth_token", "passwords"})


def is_mutating(rpc: str) -> bool:
    return needed_role(rpc) is not Role.READONLY


def source_of(request: Any) -> tuple[str, str]:
    """(source type, source identifier) of the resource a request names; ("", "") if none."""
    for field, source_type in SOURCE_FIELDS:
        value = getattr(request, field, None)
        if isinstance(value, str) and value:
            return source_type, value if source_type in ("alarm", "access-key") else value.lower()
        if value is not None and not isinstance(value, str) and len(value):
            return source_type, ",".join(value)
    return "", ""


class Audit:
    def __init__(self, events: EventLog) -> None:
        self._events = events

    def wrap(self, rpc: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """The handler of a mutating unary RPC, recording an audit event when it succeeds without
        one of its own; other handlers as they are."""
        if not is_mutating(rpc):
            return handler

        @functools.wraps(handler)
        async def audited(request: Any, context: Any) -> Any:
            recorded: list = []
            token = CALL_EVENTS.set(recorded)
            try:
                response = await handler(request, context)
            finally:
                CALL_EVENTS.reset(token)
            caller = current_caller()
            if caller and not any(event.caller == caller for event in recorded):
                source_type, source_id = source_of(request)
                await self._events.record(source_type, source_id, f"{rpc} called by {caller}", notify=False)
            return response
        audited.audited = True   # type: ignore[attr-defined]
        return audited


class Audited:
    """A servicer whose mutating RPCs are audited: what grpc's add_*_to_server is given."""

    def __init__(self, servicer: object, audit: Audit) -> None:
        self._servicer = servicer
        self._audit = audit

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._servicer, name)
        return self._audit.wrap(name, attribute) if name[:1].isupper() and callable(attribute) else attribute
