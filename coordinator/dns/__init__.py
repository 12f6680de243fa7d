"""Stable DNS names for cache nodes: the interface and a factory for its backends.

    backend = make_backend("rfc2136", server="10.0.0.53", zone="cachefleet.internal",
                           key_name="cachefleet", secret="...base64...")
    await backend.sync({"0001.c1.cachefleet.internal": ["10.0.1.7"]})

Kinds: "hostsfile" (embedded default: a hosts-format file), "rfc2136" (TSIG-signed
dynamic updates to a real DNS server), "none" (publishes nothing).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

from coordinator.dns.base import DEFAULT_TTL, DnsBackend, DnsError
from coordinator.dns.hostsfile import HostsFileBackend, read_hosts_file, resolve_hosts_file
from coordinator.dns.noop import NoopBackend
from coordinator.dns.rfc2136 import Rfc2136Backend

BACKENDS: dict[str, Callable[..., DnsBackend]] = {
    "hostsfile": HostsFileBackend,
    "rfc2136": Rfc2136Backend,
    "none": NoopBackend,
}


def make_backend(kind: str, **options: Any) -> DnsBackend:
    """Build the backend named ``kind`` from its options (as read from configuration).

    An unknown kind or a wrong option is a DnsError, so a bad config file gives one
    clear message rather than a TypeError from deep inside.
    """
    try:
        factory = BACKENDS[kind]
    except KeyError:
        raise DnsError(f"unknown DNS backend kind {kind!r}; expected one of {', '.join(BACKENDS)}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise DnsError(f"bad options for DNS backend {kind!r}: {exc}") from exc


__all__ = [
    "BACKENDS",
    "DEFAULT_TTL",
    "DnsBackend",
    "DnsError",
    "HostsFileBackend",
    "NoopBackend",
    "Rfc2136Backend",
    "make_backend",
    "read_hosts_file",
    "resolve_hosts_file",
]
