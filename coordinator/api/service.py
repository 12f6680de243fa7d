"""CacheControl, the public gRPC service, answered by one servicer per resource.

Each RPC of the service's descriptor is bound to the one servicer that defines a method
of its name. An RPC that no servicer defines, one that two define, or a servicer method
named like an RPC the service does not have, stops the coordinator at start-up instead of
answering UNIMPLEMENTED, or from the wrong servicer, at run time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

from cachefleet.v1 import cache_control_pb2, cache_control_pb2_grpc
from coordinator.api.audit import Audit

SERVICE = cache_control_pb2.DESCRIPTOR.services_by_name["CacheControl"]


def rpc_names() -> list[str]:
    """Every RPC of CacheControl, in descriptor order."""
    return [method.name for method in SERVICE.methods]


def _rpc_like(cls: type) -> list[str]:
    """The methods of cls named like RPCs (CamelCase): the ones it answers."""
    return [name for name in dir(cls) if name[:1].isupper() and callable(getattr(cls, name))]


def rpc_owners(classes: Iterable[type]) -> dict[str, type]:
    """RPC name -> the one class that answers it; ValueError naming every RPC without exactly
    one owner and every RPC-like method the service does not have."""
    claims: dict[str, list[type]] = {name: [] for name in rpc_names()}
    problems = []
    for cls in classes:
        for name in _rpc_like(cls):
            if name in claims:
                claims[name].append(cls)
            else:
                problems.append(f"{cls.__name__}.{name} is not an RPC of {SERVICE.full_name}")
    for name, owners in claims.items():
        if not owners:
            problems.append(f"no servicer answers {name}")
        elif len(owners) > 1:
            problems.append(f"{name} is answered by {' and '.join(c.__name__ for c in owners)}")
    if problems:
        raise ValueError("CacheControl cannot be composed: " + "; ".join(problems))
    return {name: owners[0] for name, owners in claims.items()}


class CacheControl:
    """The servicer grpc is given: each RPC attribute is the owning servicer's bound method,
    the mutating ones wrapped by the audit (when given) so each leaves an event naming its caller."""

    def __init__(self, *servicers: object, audit: Audit | None = None) -> None:
        by_class = {type(s): s for s in servicers}
        if len(by_class) != len(servicers):
            raise ValueError("CacheControl cannot be composed: two servicers of one class")
        owners = rpc_owners(by_class)
        self.handlers: dict[str, Callable[..., Any]] = {}
        for name, cls in owners.items():
            handler = getattr(by_class[cls], name)
            self.handlers[name] = audit.wrap(name, handler) if audit is not None else handler

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self.__dict__["handlers"][name]
        except KeyError:
            raise AttributeError(name) from None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        cache_control_pb2_grpc.add_CacheControlServicer_to_server(self, server)
