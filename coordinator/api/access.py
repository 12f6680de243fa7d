"""Who may call the coordinator: hosts report only for themselves, clients act by their role.

The interceptor (cachefleet.common.tls.authz) applies `coordinator_rule` to every call before
a servicer runs; what needs the request to judge (a heartbeat names its host) is checked by
the servicer with `check_host_caller`.
"""
from __future__ import annotations

from cachefleet.common.tls.authz import CALLER, api_rule
from cachefleet.common.tls.identity import Identity, Kind

from coordinator.domain.errors import ApiError

HOST_SERVICES = ("/cachefleet.v1.HostRegistry/", "/cachefleet.v1.HostMetrics/")


def coordinator_rule(method: str, caller: Identity) -> str | None:
    """Heartbeats and metrics come from hosts; the API is for clients (and coordinators)."""
    if method.startswith(HOST_SERVICES):
        return None if caller.kind is Kind.HOST else "only a host's certificate reports to the coordinator"
    return api_rule(method, caller)


def check_host_caller(host_id: str) -> None:
    """A host reports for itself only: a heartbeat for another host would draw its nodes and
    names to the caller. No caller is known only in plaintext mode (--insecure)."""
    caller = CALLER.get()
    if caller is not None and (caller.kind is not Kind.HOST or caller.name != host_id):
        raise ApiError("AccessDenied", f"{caller} may report only for its own host, not for {host_id!r}.")
