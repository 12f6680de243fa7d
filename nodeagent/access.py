"""Who may call an agent: its coordinators, and for ConfirmPrimary the fleet's other hosts.

Everything else an agent serves runs engines, removes data or ships bytes, so a client
certificate (whatever its role) or another host's gets PERMISSION_DENIED before the request
is even read.
"""
from __future__ import annotations

from cachefleet.common.tls.identity import Identity, Kind

PEER_METHODS = frozenset({"/cachefleet.v1.NodeAgent/ConfirmPrimary"})


def agent_rule(method: str, caller: Identity) -> str | None:
    if caller.kind is Kind.COORDINATOR:
        return None
    if method in PEER_METHODS and caller.kind is Kind.HOST:
        return None
    return "an agent obeys its coordinators only" if method not in PEER_METHODS else \
        "only the fleet's hosts and coordinators ask a replica about its primary"
