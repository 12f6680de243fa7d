"""The RFC 2136 backend against a real BIND named with a TSIG key (tests/helpers/bind.py)."""
from __future__ import annotations

import asyncio
import socket
from typing import Any, TypeVar
from collections.abc import Coroutine, Iterator

import dns.asyncquery
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from coordinator.dns import DnsError, Rfc2136Backend, make_backend
from tests.helpers.bind import NamedServer, named_server, run_named  # noqa: F401  (fixture)

T = TypeVar("T")

NODE = "0001.c1.cachefleet.test"
CONFIG_ENDPOINT = "c1.cfg.cachefleet.test"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def lookup(server: NamedServer, name: str, rdtype: str = "A") -> tuple[str, list[str], int | None]:
    """Ask named as a client would: (rcode text, sorted answers, TTL)."""
    query = dns.message.make_query(name, rdtype)
    response = await dns.asyncquery.udp(query, server.host, port=server.port, timeout=2)
    rrsets = [r for r in response.answer if r.rdtype == dns.rdatatype.from_text(rdtype)]
    answers = sorted(rd.to_text() for rrset in rrsets for rd in rrset)
    ttl = rrsets[0].ttl if rrsets else None
    return dns.rcode.to_text(response.rcode()), answers, ttl


async def soa_serial(server: NamedServer) -> int:
    query = dns.message.make_query(server.zone, "SOA")
    response = await dns.asyncquery.udp(query, server.host, port=server.port, timeout=2)
    return response.answer[0][0].serial


def backend(server: NamedServer, **overrides: Any) -> Rfc2136Backend:
    made = make_backend("rfc2136", **server.rfc2136_options(**overrides))
    assert isinstance(made, Rfc2136Backend)
    return made


def test_published_name_answers_with_its_address_and_ttl_5(named_server: NamedServer) -> None:
    async def scenario() -> None:
        await backend(named_server).sync({NODE: ["127.0.1.1"]})
        assert await lookup(named_server, NODE) == ("NOERROR", ["127.0.1.1"], 5)

    run(scenario())


def test_moved_node_answers_with_its_new_address(named_server: NamedServer) -> None:
    async def scenario() -> None:
        dns_backend = backend(named_server)
        await dns_backend.sync({NODE: ["127.0.1.1"]})
        await dns_backend.sync({NODE: ["127.0.1.2"]})
        assert await lookup(named_server, NODE) == ("NOERROR", ["127.0.1.2"], 5)

    run(scenario())


def test_several_addresses_are_several_a_records(named_server: NamedServer) -> None:
    async def scenario() -> None:
        dns_backend = backend(named_server)
        await dns_backend.sync({CONFIG_ENDPOINT: ["127.0.1.3", "127.0.1.1", "127.0.1.2"]})
        assert await lookup(named_server, CONFIG_ENDPOINT) == (
            "NOERROR",
            ["127.0.1.1", "127.0.1.2", "127.0.1.3"],
            5,
        )
        await dns_backend.sync({CONFIG_ENDPOINT: ["127.0.1.1", "127.0.1.3"]})
        assert (await lookup(named_server, CONFIG_ENDPOINT))[1] == ["127.0.1.1", "127.0.1.3"]

    run(scenario())


def test_removed_name_answers_nxdomain(named_server: NamedServer) -> None:
    async def scenario() -> None:
        dns_backend = backend(named_server)
        await dns_backend.sync({NODE: ["127.0.1.1"], CONFIG_ENDPOINT: ["127.0.1.1"]})
        await dns_backend.sync({CONFIG_ENDPOINT: ["127.0.1.1"]})
        assert await lookup(named_server, NODE) == ("NXDOMAIN", [], None)
        # The ownership marker went with the A record: nothing at all is left there.
        assert (await lookup(named_server, NODE, "TXT"))[0] == "NXDOMAIN"
        assert (await lookup(named_server, CONFIG_ENDPOINT))[1] == ["127.0.1.1"]

    run(scenario())


def test_restarted_backend_removes_names_no_longer_desired(named_server: NamedServer) -> None:
    """A new instance learns by AXFR what the old one published, and prunes only that."""
    foreign = "legacy.cachefleet.test"

    async def scenario() -> None:
        # Another tool's name in the same zone, with no cachefleet marker.
        other = dns.update.UpdateMessage(named_server.zone, keyring=_key(named_server))
        other.add(dns.name.from_text(foreign), 300, "A", "192.0.2.1")
        response = await dns.asyncquery.tcp(other, named_server.host, port=named_server.port, timeout=2)
        assert response.rcode() == dns.rcode.NOERROR

        await backend(named_server).sync({NODE: ["127.0.1.1"], CONFIG_ENDPOINT: ["127.0.1.1", "127.0.1.2"]})

        restarted = backend(named_server)
        await restarted.sync({CONFIG_ENDPOINT: ["127.0.1.1", "127.0.1.2"]})

        assert await lookup(named_server, NODE) == ("NXDOMAIN", [], None)
        assert (await lookup(named_server, CONFIG_ENDPOINT))[1] == ["127.0.1.1", "127.0.1.2"]
        assert (await lookup(named_server, foreign))[1] == ["192.0.2.1"]
        assert (await lookup(named_server, f"ns.{named_server.zone}"))[1] == [named_server.host]
        assert dict(restarted.published or {}) == {CONFIG_ENDPOINT: ("127.0.1.1", "127.0.1.2")}

    run(scenario())


def test_restart_with_unchanged_names_sends_no_update(named_server: NamedServer) -> None:
    async def scenario() -> None:
        await backend(named_server).sync({NODE: ["127.0.1.1"]})
        serial = await soa_serial(named_server)
        await backend(named_server).sync({NODE: ["127.0.1.1"]})
        assert await soa_serial(named_server) == serial

    run(scenario())


def test_owners_sharing_a_zone_leave_each_other_alone(named_server: NamedServer) -> None:
    async def scenario() -> None:
        await backend(named_server, owner="fleet-a").sync({"a.cachefleet.test": ["127.0.1.1"]})
        await backend(named_server, owner="fleet-b").sync({"b.cachefleet.test": ["127.0.1.2"]})
        assert (await lookup(named_server, "a.cachefleet.test"))[1] == ["127.0.1.1"]

    run(scenario())


def test_wrong_tsig_secret_is_a_dns_error_and_changes_nothing(named_server: NamedServer) -> None:
    wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

    async def scenario() -> None:
        await backend(named_server).sync({NODE: ["127.0.1.1"]})
        serial = await soa_serial(named_server)

        with pytest.raises(DnsError, match="BADSIG"):
            await backend(named_server, secret=wrong).sync({NODE: ["127.0.1.2"]})

        # Even past the AXFR (cache already known), the update itself is refused.
        intruder = backend(named_server, secret=wrong)
        intruder._published = {}  # skip the transfer: exercise the update path
        with pytest.raises(DnsError, match="BADSIG"):
            await intruder.sync({NODE: ["127.0.1.2"], "new.cachefleet.test": ["127.0.1.9"]})

        assert await lookup(named_server, NODE) == ("NOERROR", ["127.0.1.1"], 5)
        assert (await lookup(named_server, "new.cachefleet.test"))[0] == "NXDOMAIN"
        assert await soa_serial(named_server) == serial

    run(scenario())


def test_sync_with_nothing_changed_sends_no_update(named_server: NamedServer) -> None:
    async def scenario() -> None:
        dns_backend = backend(named_server)
        await dns_backend.sync({NODE: ["127.0.1.1"], CONFIG_ENDPOINT: ["127.0.1.1", "127.0.1.2"]})
        serial = await soa_serial(named_server)
        # Same records spelled differently: other case, trailing dot, other order.
        await dns_backend.sync({NODE.upper() + ".": ["127.0.1.1"], CONFIG_ENDPOINT: ["127.0.1.2", "127.0.1.1"]})
        assert await soa_serial(named_server) == serial

        await dns_backend.sync({NODE: ["127.0.1.1"], CONFIG_ENDPOINT: ["127.0.1.2"]})
        assert await soa_serial(named_server) > serial

    run(scenario())


def test_many_changes_are_split_into_several_update_messages(named_server: NamedServer) -> None:
    names = {f"{i:04d}.c2.cachefleet.test": [f"127.0.2.{i}"] for i in range(1, 8)}

    async def scenario() -> None:
        dns_backend = backend(named_server, batch_size=3)
        serial = await soa_serial(named_server)
        await dns_backend.sync(names)
        for name, addresses in names.items():
            assert (await lookup(named_server, name))[1] == addresses
        assert await soa_serial(named_server) == serial + 3  # one serial step per message

    run(scenario())


def test_refused_zone_transfer_falls_back_to_publishing_everything(tmp_path: Any) -> None:
    with run_named(tmp_path, allow_transfer=False) as server:

        async def scenario() -> None:
            await backend(server).sync({NODE: ["127.0.1.1"]})
            restarted = backend(server)
            await restarted.sync({CONFIG_ENDPOINT: ["127.0.1.2"]})
            assert (await lookup(server, CONFIG_ENDPOINT))[1] == ["127.0.1.2"]
            # Without the transfer the stale name cannot be known, so it stays (and a warning is logged).
            assert (await lookup(server, NODE))[1] == ["127.0.1.1"]
            await restarted.sync({})
            assert (await lookup(server, CONFIG_ENDPOINT))[0] == "NXDOMAIN"

        run(scenario())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (in the kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_server_that_never_answers_is_a_dns_error(silent_server: int) -> None:
    dns_backend = Rfc2136Backend(
        server="127.0.0.1",
        port=silent_server,
        zone="cachefleet.test",
        key_name="k",
        secret="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        timeout=0.3,
    )
    dns_backend._published = {}  # go straight to the update

    with pytest.raises(DnsError, match="no answer"):
        run(dns_backend.sync({NODE: ["127.0.1.1"]}))
    assert dns_backend.published is None  # unknown now: the next sync re-reads the zone


def test_invalid_tsig_secret_is_rejected_at_construction() -> None:
    with pytest.raises(DnsError, match="invalid TSIG key"):
        make_backend("rfc2136", server="127.0.0.1", zone="cachefleet.test", key_name="k", secret="not base64!")


def _key(server: NamedServer) -> dns.tsig.Key:
    return dns.tsig.Key(server.key_name, server.secret, server.algorithm)
