"""Certificates that are about to expire, so that the fleet says so while there is time to act.

A certificate that expires within EXPIRY_WARNING (14 days) is reported; the daemons turn each
into an event. Expired ones are reported too (days_left negative).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from collections.abc import Iterable

from cryptography import x509

from cachefleet.common.tls.identity import Identity, IdentityError, identity_of

EXPIRY_WARNING = dt.timedelta(days=14)


@dataclasses.dataclass(frozen=True)
class Expiring:
    path: pathlib.Path
    subject: str
    identity: Identity | None     # None for a CA certificate
    not_after: dt.datetime

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def sentence(self, now: dt.datetime) -> str:
        who = str(self.identity) if self.identity is not None else self.subject
        when = self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.not_after <= now:
            return f"Certificate {who} ({self.path}) expired at {when}"
        return f"Certificate {who} ({self.path}) expires at {when}, in {self.days_left(now):.1f} days"


def expiring(paths: Iterable[pathlib.Path | str], *, within: dt.timedelta = EXPIRY_WARNING,
             now: dt.datetime | None = None) -> list[Expiring]:
    """Every certificate in the PEM files (a bundle counts each) that expires before now + within,
    soonest first. A file that is missing or unreadable is skipped: reloading reports those."""
    now = now if now is not None else dt.datetime.now(dt.UTC)
    found: list[Expiring] = []
    for path in map(pathlib.Path, paths):
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError):
            continue
        for cert in certs:
            if cert.not_valid_after_utc - now < within:
                found.append(Expiring(path, cert.subject.rfc4514_string(), _identity(cert), cert.not_valid_after_utc))
    return sorted(found, key=lambda item: item.not_after)


def _identity(cert: x509.Certificate) -> Identity | None:
    try:
        return identity_of(cert)
    except IdentityError:
        return None
