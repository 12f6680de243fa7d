"""Certificates about to expire become one event a day, while there is time to renew them."""
from __future__ import annotations

import asyncio
import datetime as dt

from cachefleet.common.tls.fleetca import CertificateAuthority, write_issued
from cachefleet.common.tls.identity import Identity

from coordinator.api.cert_expiry import ExpiryWatch
from coordinator.state.events import EventLog
from coordinator.state.store import SqliteStore


def test_a_host_certificate_due_within_14_days_is_said_once_a_day_and_a_fresh_one_never(tmp_path):
    ca = CertificateAuthority.create()
    soon = ca.issue(Identity.host("h1"), days=10).cert_pem
    fresh = ca.issue(Identity.host("h2"), days=90).cert_pem
    today = dt.datetime.now(dt.UTC)
    clock = [today]

    async def scenario() -> list[str]:
        store = SqliteStore(tmp_path / "state.db")
        try:
            events = EventLog(store)
            watch = ExpiryWatch(events, None, now=lambda: clock[0])
            for _ in range(3):
                await watch.presented("h1", soon)
                await watch.presented("h2", fresh)
            clock[0] = today + dt.timedelta(days=1)
            await watch.presented("h1", soon)
            return [e.message for e in await events.query(source_identifier="h1")] + \
                [e.message for e in await events.query(source_identifier="h2")]
        finally:
            await store.close()

    messages = asyncio.run(scenario())
    assert len(messages) == 2 and all(m.startswith("Certificate of host h1 expires at") for m in messages)


def test_the_coordinators_own_certificate_due_soon_is_an_event(tmp_path):
    ca = CertificateAuthority.create()
    files = write_issued(ca.issue(Identity.coordinator("c1"), days=5), ca, tmp_path / "tls")

    async def scenario() -> list[str]:
        store = SqliteStore(tmp_path / "state.db")
        try:
            events = EventLog(store)
            task = asyncio.create_task(ExpiryWatch(events, files).run())
            for _ in range(200):
                if await events.query(source_type="coordinator"):
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            return [e.message for e in await events.query(source_type="coordinator")]
        finally:
            await store.close()

    (message,) = asyncio.run(scenario())
    assert "spiffe://cachefleet/coordinator/c1" in message and "expires at" in message
