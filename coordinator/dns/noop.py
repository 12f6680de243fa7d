"""The "none" backend: publishes nothing, for tests of other parts and DNS-less setups.

It still validates ``desired`` and keeps the cache, so a caller's test can read
``published`` to see what a real backend would have been asked to publish.
"""
from __future__ import annotations

from coordinator.dns.base import DnsBackend, Records


class NoopBackend(DnsBackend):
    """Accepts every sync and sends it nowhere."""

    kind = "none"

    async def _load(self) -> Records:
        return {}

    async def _apply(self, changed: Records, removed: set[str], desired: Records) -> None:
        return None
