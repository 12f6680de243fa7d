"""Certificates about to expire, said as events while there is time to renew them.

The coordinator sees two kinds: its own (its files, checked at start and every few hours) and
each host's, as the host presents it with every heartbeat. One event per certificate per day,
from 14 days before it expires; an expired host certificate cannot get here (the handshake
refuses it), which is why the warning starts early.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable

import structlog
from cryptography import x509

from cachefleet.common.tls.expiry import EXPIRY_WARNING, expiring
from cachefleet.common.tls.files import CredentialFiles

from coordinator.api.host_claims import CERTIFICATES_CACHED
from coordinator.state.events import EventLog

log = structlog.get_logger("coordinator.certificates")

OWN_CHECK_EVERY_S = 6 * 3600


@functools.lru_cache(maxsize=CERTIFICATES_CACHED)
def _not_after(pem: bytes) -> dt.datetime | None:
    try:
        return x509.load_pem_x509_certificate(pem).not_valid_after_utc
    except ValueError:
        return None


class ExpiryWatch:
    def __init__(self, events: EventLog, own: CredentialFiles | None,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._events = events
        self._own = own
        self._now = now
        self._said: dict[str, dt.date] = {}   # certificate -> the day its event was last recorded

    async def run(self) -> None:
        """Check the coordinator's own certificate and CA now and every few hours."""
        while True:
            if self._own is not None:
                now = self._now()
                for item in expiring(self._own.certificate_paths, now=now):
                    await self._say("coordinator", str(item.identity or item.subject), item.sentence(now))
            await asyncio.sleep(OWN_CHECK_EVERY_S)

    async def presented(self, host_id: str, pem: bytes | None) -> None:
        """A host's heartbeat came with this certificate."""
        not_after = _not_after(pem) if pem else None
        now = self._now()
        if not_after is None or not_after - now >= EXPIRY_WARNING:
            return
        days = (not_after - now).total_seconds() / 86400
        await self._say("host", host_id, f"Certificate of host {host_id} expires at "
                        f"{not_after.strftime('%Y-%m-%dT%H:%M:%SZ')}, in {days:.1f} days: issue it a new one "
                        "(`cachefleet ca issue --host`); the agent takes it without a restart")

    async def _say(self, source_type: str, source_id: str, message: str) -> None:
        key, today = f"{source_type}/{source_id}", self._now().date()
        if self._said.get(key) == today:
            return
        self._said[key] = today
        log.warning("certificate expires soon", source=key, message=message)
        await self._events.record(source_type, source_id, message)
