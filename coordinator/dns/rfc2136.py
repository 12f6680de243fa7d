"""RFC 2136 dynamic update, signed with TSIG: names in a zone of a real DNS server.

Works with any primary that takes signed updates (BIND, Knot, PowerDNS, Windows DNS).
Only changed names are sent, several per update message; an update message is atomic
on the server, so a failed one changed nothing.

Ownership. A zone also holds records cachefleet must never touch (SOA, NS and the
name server's own A record, names of other tools). Each name cachefleet publishes
therefore carries, next to its A records, a TXT record ``"heritage=cachefleet,owner=<owner>"``
(the registry idea of Kubernetes external-dns). After a restart the backend reads the
zone by a TSIG-signed AXFR and treats as its own exactly the names that bear its
marker, so it prunes stale names it published before and nothing else. Several fleets
can share one zone with different ``owner`` values. If the server refuses the
transfer, the backend publishes everything desired and warns that names from before
the restart cannot be pruned.
"""
from __future__ import annotations

import asyncio
import binascii
import ipaddress
import socket
from collections.abc import Iterator

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr
import dns.zone

from coordinator.dns.base import DEFAULT_TTL, DnsBackend, DnsError, Records, normalize_addresses

DEFAULT_ALGORITHM = "hmac-sha256"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_BATCH = 100  # names per update message: far below the 64 KiB TCP message limit
XFR_LIFETIME_FACTOR = 10  # a transfer may take this many timeouts in total


class Rfc2136Backend(DnsBackend):
    """Publishes names by TSIG-signed dynamic updates to one primary server."""

    kind = "rfc2136"

    def __init__(
        self,
        server: str,
        zone: str,
        key_name: str,
        secret: str,
        port: int = 53,
        algorithm: str = DEFAULT_ALGORITHM,
        ttl: int = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT_S,
        owner: str = "default",
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        super().__init__(zone, ttl)
        if batch_size < 1:
            raise DnsError(f"batch_size must be >= 1, got {batch_size}")
        if not owner or any(c in owner for c in '",\\ '):
            raise DnsError(f"owner {owner!r} must be non-empty without quotes, commas, backslashes or spaces")
        self.server = server
        self.port = port
        self.timeout = timeout
        self.owner = owner
        self.batch_size = batch_size
        self._origin = dns.name.from_text(self.zone)
        self._key = _make_key(key_name, secret, algorithm)
        self._marker = f"heritage=cachefleet,owner={owner}"
        self._log = self._log.bind(server=f"{server}:{port}", key_name=key_name, owner=owner)

    async def _load(self) -> Records:
        """Names bearing our marker, from a signed AXFR; empty if the server refuses it."""
        where = await self._server_address()
        zone = dns.zone.Zone(self._origin, relativize=False)
        query, _ = dns.xfr.make_query(
            zone, serial=None, keyring=self._key, keyname=self._key.name, keyalgorithm=self._key.algorithm
        )
        try:
            await dns.asyncquery.inbound_xfr(
                where,
                zone,
                query,
                port=self.port,
                timeout=self.timeout,
                lifetime=self.timeout * XFR_LIFETIME_FACTOR,
            )
        except dns.xfr.TransferError as exc:
            if exc.rcode != dns.rcode.REFUSED:
                raise DnsError(f"zone transfer of {self.zone} failed: {dns.rcode.to_text(exc.rcode)}") from exc
            self._log.warning(
                "dns.axfr_refused",
                consequence="publishing every desired name; names published before this start "
                "and no longer desired stay in the zone until removed by hand",
                fix=f"allow-transfer {{ key {self._key.name.to_text(omit_final_dot=True)}; }} on the zone",
            )
            return {}
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise DnsError(f"zone transfer of {self.zone} from {self.server}:{self.port} failed: {_describe(exc)}") from exc
        return self._owned_records(zone)

    def _owned_records(self, zone: dns.zone.Zone) -> Records:
        marker = self._marker.encode()
        records: Records = {}
        for name, node in zone.nodes.items():
            txt = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT)
            if txt is None or not any(b"".join(rd.strings) == marker for rd in txt):
                continue
            a = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.A)
            addresses = [rd.address for rd in a] if a is not None else []
            fqdn = name.to_text(omit_final_dot=True).lower()
            # An owned name with no A left (edited by hand) is still ours: an empty
            # tuple makes the diff either re-publish or remove it.
            records[fqdn] = normalize_addresses(fqdn, addresses)
        return records

    async def _apply(self, changed: Records, removed: set[str], desired: Records) -> None:
        where = await self._server_address()
        for batch in _batches(sorted(changed), sorted(removed), self.batch_size):
            update = dns.update.UpdateMessage(
                self._origin, keyring=self._key, keyname=self._key.name, keyalgorithm=self._key.algorithm
            )
            marker = f'"{self._marker}"'
            for name, is_removal in batch:
                absolute = dns.name.from_text(name)
                if is_removal:
                    update.delete(absolute, "A")
                    update.delete(absolute, "TXT", marker)
                else:
                    update.replace(absolute, self.ttl, "A", *changed[name])
                    update.add(absolute, self.ttl, "TXT", marker)  # adding an existing RR is a no-op
            await self._send(where, update)

    async def _send(self, where: str, update: dns.update.UpdateMessage) -> None:
        """Send one update over TCP; anything but a verified NOERROR is a DnsError."""
        try:
            response = await dns.asyncquery.tcp(update, where, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout as exc:
            raise DnsError(f"update of {self.zone}: no answer from {self.server}:{self.port} within {self.timeout}s") from exc
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise DnsError(f"update of {self.zone} via {self.server}:{self.port} failed: {_describe(exc)}") from exc
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsError(f"update of {self.zone} rejected by {self.server}:{self.port}: {dns.rcode.to_text(rcode)}")

    async def _server_address(self) -> str:
        """dnspython wants an address; resolve a host name at each use (it may move)."""
        try:
            ipaddress.ip_address(self.server)
            return self.server
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(self.server, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise DnsError(f"cannot resolve DNS server {self.server!r}: {exc}") from exc
        return str(infos[0][4][0])


def _make_key(key_name: str, secret: str, algorithm: str) -> dns.tsig.Key:
    """Build the TSIG key and sign a dummy message, so a bad secret or algorithm fails now."""
    try:
        key = dns.tsig.Key(key_name, secret, algorithm)
        probe = dns.message.make_query("probe.", dns.rdatatype.SOA)
        probe.use_tsig(key)
        probe.to_wire()
    except (binascii.Error, ValueError, NotImplementedError, dns.exception.DNSException) as exc:
        raise DnsError(f"invalid TSIG key {key_name!r} ({algorithm}): {_describe(exc)}") from exc
    return key


def _batches(changed: list[str], removed: list[str], size: int) -> Iterator[list[tuple[str, bool]]]:
    """Split (name, is_removal) pairs into update messages of at most ``size`` names."""
    work = [(name, False) for name in changed] + [(name, True) for name in removed]
    for start in range(0, len(work), size):
        yield work[start : start + size]


# The server answers NOTAUTH with a TSIG error; dnspython raises these before we see it.
_TSIG_ERRORS: dict[type[Exception], str] = {
    dns.tsig.PeerBadSignature: "NOTAUTH/BADSIG: the server rejected our TSIG signature (wrong secret?)",
    dns.tsig.PeerBadKey: "NOTAUTH/BADKEY: the server does not know our TSIG key name or algorithm",
    dns.tsig.PeerBadTime: "NOTAUTH/BADTIME: our clock and the server's differ too much for TSIG",
    dns.tsig.PeerBadTruncation: "NOTAUTH/BADTRUNC: the server rejected our truncated TSIG MAC",
}


def _describe(exc: BaseException) -> str:
    """Name the rcode for TSIG refusals; otherwise the exception type and text."""
    for exc_type, text in _TSIG_ERRORS.items():
        if isinstance(exc, exc_type):
            return text
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
