"""The DNS backend interface: make a zone's cachefleet A records equal a desired map.

Every cache node has a name that never changes while its address may; the reconciler
computes the whole desired map each cycle and hands it to ``sync``. Backends therefore
see level-triggered input and must be idempotent and cheap when nothing moved: the base
class keeps a cache of what was published and passes only the difference to the
backend. When the cache cannot be trusted (first sync after start, or after a failure
that may or may not have reached the server) it is re-read from the backend itself, so
a coordinator restarted at any instant still removes names it published before.
"""
from __future__ import annotations

import abc
import asyncio
import ipaddress
from types import MappingProxyType
from collections.abc import Mapping, Sequence

import structlog

log = structlog.get_logger(__name__)

Records = dict[str, tuple[str, ...]]
"""FQDN (lower case, no trailing dot) -> sorted, unique IPv4 addresses."""

DEFAULT_TTL = 5


class DnsError(Exception):
    """Any failure of a DNS backend: bad input, server refusal, timeout, I/O error."""


def normalize_name(name: str, zone: str) -> str:
    """Canonical form of ``name``: lower case, no trailing dot, and inside ``zone``.

    DNS names compare case-insensitively; one spelling keeps the cache diff exact.
    """
    canonical = name.strip().rstrip(".").lower()
    if not canonical or ".." in canonical or any(c.isspace() for c in canonical):
        raise DnsError(f"invalid DNS name {name!r}")
    if canonical != zone and not canonical.endswith("." + zone):
        raise DnsError(f"name {name!r} is outside zone {zone!r}")
    return canonical


def normalize_addresses(name: str, addresses: Sequence[str]) -> tuple[str, ...]:
    """Sorted unique IPv4 addresses, so that order in ``desired`` never counts as a change."""
    if isinstance(addresses, str):
        raise DnsError(f"addresses of {name!r} must be a sequence of strings, not one string")
    try:
        parsed = {ipaddress.IPv4Address(a.strip()) for a in addresses}
    except (ipaddress.AddressValueError, AttributeError) as exc:
        raise DnsError(f"invalid IPv4 address for {name!r}: {exc}") from exc
    return tuple(str(a) for a in sorted(parsed))


def normalize(desired: Mapping[str, Sequence[str]], zone: str) -> Records:
    """Validate and canonicalize a desired map; names with no address are simply absent."""
    records: Records = {}
    for name, addresses in desired.items():
        canonical = normalize_name(name, zone)
        addrs = normalize_addresses(name, addresses)
        if not addrs:
            continue
        if canonical in records and records[canonical] != addrs:
            raise DnsError(f"name {canonical!r} given twice with different addresses")
        records[canonical] = addrs
    return records


def diff(published: Mapping[str, tuple[str, ...]], desired: Records) -> tuple[Records, set[str]]:
    """Names to (re)publish with their addresses, and names to remove."""
    changed = {name: addrs for name, addrs in desired.items() if published.get(name) != addrs}
    removed = set(published) - set(desired)
    return changed, removed


class DnsBackend(abc.ABC):
    """Publishes the A records of cachefleet's names in one zone.

    Subclasses implement ``_load`` (what is published now, read from the backend) and
    ``_apply`` (send one difference); this class owns validation, the diff, the cache
    and serialization of concurrent syncs.
    """

    kind: str = "abstract"

    def __init__(self, zone: str, ttl: int = DEFAULT_TTL) -> None:
        zone = zone.strip().rstrip(".").lower()
        if not zone:
            raise DnsError("zone must not be empty")
        if ttl < 0:
            raise DnsError(f"ttl must be >= 0, got {ttl}")
        self.zone = zone
        self.ttl = ttl
        self._published: Records | None = None  # None: unknown, re-read before next diff
        self._lock = asyncio.Lock()
        self._log = log.bind(dns_backend=self.kind, zone=zone)

    @property
    def published(self) -> Mapping[str, tuple[str, ...]] | None:
        """What this backend believes it has published (None until known)."""
        return None if self._published is None else MappingProxyType(self._published)

    async def sync(self, desired: Mapping[str, Sequence[str]]) -> None:
        """Make the A records of the names cachefleet manages equal ``desired``.

        ``desired`` maps FQDN (no trailing dot) to IPv4 addresses; several addresses
        are several A records. Names published before and absent now are removed.
        Idempotent; sends nothing when nothing changed since the last sync.
        """
        records = normalize(desired, self.zone)
        async with self._lock:
            if self._published is None:
                self._published = await self._load()
                self._log.info("dns.published_state_loaded", names=len(self._published))
            changed, removed = diff(self._published, records)
            if not changed and not removed:
                return
            try:
                await self._apply(changed, removed, records)
            except BaseException:
                # The change may have half-happened or happened unseen (timeout):
                # forget the cache so the next sync re-reads the truth.
                self._published = None
                raise
            self._published = records
            self._log.info(
                "dns.synced",
                changed=sorted(changed),
                removed=sorted(removed),
                names=len(records),
            )

    def forget(self) -> None:
        """Drop the cache so the next sync re-reads the backend and repairs hand edits."""
        self._published = None

    async def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing
        """Release connections or files; the default backend holds none."""

    @abc.abstractmethod
    async def _load(self) -> Records:
        """Read what cachefleet has published in the backend (only its own names)."""

    @abc.abstractmethod
    async def _apply(self, changed: Records, removed: set[str], desired: Records) -> None:
        """Publish ``changed`` names and remove ``removed``; ``desired`` is the whole map.

        Raise DnsError on any failure.
        """
