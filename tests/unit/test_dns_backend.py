"""What every DNS backend shares: the factory, input validation, the cache of what was published."""
from __future__ import annotations

import asyncio

import pytest

from coordinator.dns import DnsError, NoopBackend, make_backend

ZONE = "cachefleet.internal"


def test_unknown_kind_is_a_dns_error_naming_the_known_ones() -> None:
    with pytest.raises(DnsError, match="hostsfile, rfc2136, none"):
        make_backend("route53", zone=ZONE)


def test_unknown_option_is_a_dns_error() -> None:
    with pytest.raises(DnsError, match="bad options for DNS backend 'none'"):
        make_backend("none", zone=ZONE, colour="blue")


def test_none_backend_publishes_nothing_but_remembers_what_it_was_asked() -> None:
    dns_backend = make_backend("none", zone=ZONE + ".")
    assert isinstance(dns_backend, NoopBackend)
    assert (dns_backend.zone, dns_backend.ttl) == (ZONE, 5)
    assert dns_backend.published is None
    asyncio.run(dns_backend.sync({f"A.{ZONE}.": ["127.0.1.2", "127.0.1.1", "127.0.1.1"], f"b.{ZONE}": []}))
    assert dict(dns_backend.published or {}) == {f"a.{ZONE}": ("127.0.1.1", "127.0.1.2")}
    asyncio.run(dns_backend.close())


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        ({"node.elsewhere.example": ["127.0.1.1"]}, "outside zone"),
        ({f"evil{ZONE}": ["127.0.1.1"]}, "outside zone"),
        ({f"a..{ZONE}": ["127.0.1.1"]}, "invalid DNS name"),
        ({f"a.{ZONE}": ["::1"]}, "invalid IPv4 address"),
        ({f"a.{ZONE}": ["127.0.1.256"]}, "invalid IPv4 address"),
        ({f"a.{ZONE}": "127.0.1.1"}, "not one string"),
        ({f"a.{ZONE}": ["127.0.1.1"], f"A.{ZONE}": ["127.0.1.2"]}, "given twice"),
    ],
)
def test_bad_desired_records_are_a_dns_error_and_change_nothing(desired: dict, message: str) -> None:
    dns_backend = make_backend("none", zone=ZONE)
    asyncio.run(dns_backend.sync({f"keep.{ZONE}": ["127.0.1.1"]}))
    with pytest.raises(DnsError, match=message):
        asyncio.run(dns_backend.sync(desired))
    assert dict(dns_backend.published or {}) == {f"keep.{ZONE}": ("127.0.1.1",)}
