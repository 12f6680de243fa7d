"""The fleet CA and the identities its certificates carry (cachefleet.common.tls), in-process."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from cachefleet.common.tls import fleetca
from cachefleet.common.tls.credentials import CredentialWatch
from cachefleet.common.tls.expiry import expiring
from cachefleet.common.atomicfile import write_atomically
from cachefleet.common.tls.files import CredentialError, CredentialFiles
from cachefleet.common.tls.fleetca import CaError, CertificateAuthority, verify_certificate, write_issued
from cachefleet.common.tls.identity import (Identity, IdentityError, Kind, Role, identity_of_pem, parse_uri,
                                            peer_identity)
from cachefleet.common.tls.localfleet import FleetCaLayout, provision

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(now=NOW)


def sans_of(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def usages_of(cert: x509.Certificate) -> set:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.mark.parametrize("identity, uri", [
    (Identity.host("host1"), "spiffe://cachefleet/host/host1"),
    (Identity.host("127.0.1.1"), "spiffe://cachefleet/host/127.0.1.1"),
    (Identity.coordinator("coordinator"), "spiffe://cachefleet/coordinator/coordinator"),
    (Identity.client("alice", Role.OPERATOR), "spiffe://cachefleet/client/operator/alice"),
])
def test_an_issued_certificate_names_its_holder_in_one_spiffe_uri(ca, identity, uri):
    issued = ca.issue(identity, now=NOW)
    assert identity.uri == uri
    assert issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert identity_of_pem(issued.cert_pem) == identity == parse_uri(uri)
    assert verify_certificate(issued.cert_pem, ca.bundle_pem, now=NOW) == identity


def test_servers_carry_their_addresses_and_may_serve_while_clients_only_call(ca):
    host = ca.issue(Identity.host("host1"), ["127.0.1.1", "::1", "host1.example.com"], now=NOW).cert
    assert sans_of(host)[1:] == [x509.IPAddress(ipaddress.ip_address("127.0.1.1")),
                                 x509.IPAddress(ipaddress.ip_address("::1")), x509.DNSName("host1.example.com")]
    assert usages_of(host) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    client = ca.issue(Identity.client("bob", "readonly"), now=NOW).cert
    assert usages_of(client) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    with pytest.raises(CaError, match="client certificate carries no server names"):
        ca.issue(Identity.client("bob", "readonly"), ["127.0.0.1"], now=NOW)
    with pytest.raises(ValueError, match="invalid subject alternative name"):
        ca.issue(Identity.host("host1"), ["not a name"], now=NOW)


def test_a_certificate_never_outlives_its_ca():
    short = CertificateAuthority.create(days=30, now=NOW)
    issued = short.issue(Identity.host("h"), days=365, now=NOW)
    assert issued.cert.not_valid_after_utc == short.cert.not_valid_after_utc


@pytest.mark.parametrize("uri", [
    "spiffe://cachefleet/host/",
    "spiffe://cachefleet/host/a/b",
    "spiffe://cachefleet/host/..",
    "spiffe://cachefleet/host/-x",
    "spiffe://cachefleet/host/h%2F1",
    "spiffe://cachefleet/host/h1?role=admin",
    "spiffe://cachefleet/host/h1/",
    "spiffe://cachefleet/host/h1\n",
    "spiffe://cachefleet/client/alice",
    "spiffe://cachefleet/client/root/alice",
    "spiffe://cachefleet/client/Admin/alice",
    "spiffe://cachefleet/coordinator/admin/c1",
    "spiffe://cachefleet/agent/h1",
    "spiffe://otherfleet/host/h1",
    "spiffe://cachefleet.evil/host/h1",
    "https://cachefleet/host/h1",
    "SPIFFE://cachefleet/host/h1",
    "",
])
def test_the_identity_parser_refuses_anything_it_does_not_know(uri):
    with pytest.raises(IdentityError):
        parse_uri(uri)


def test_an_identity_is_a_host_or_coordinator_without_a_role_or_a_client_with_one():
    with pytest.raises(IdentityError, match="needs role"):
        Identity(Kind.CLIENT, "alice")
    with pytest.raises(IdentityError, match="has no role"):
        Identity(Kind.HOST, "h1", Role.ADMIN)
    with pytest.raises(IdentityError, match="invalid role"):
        Identity.client("alice", "root")
    assert Identity(Kind.CLIENT, "alice", "admin").role is Role.ADMIN   # type: ignore[arg-type]


def test_roles_include_the_ones_below_them():
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.READONLY)
    assert Role.READONLY.allows(Role.READONLY)
    assert not Role.READONLY.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


def _self_made(uris: list[str]) -> bytes:
    """A certificate with these URI names and no fleet behind it (for the parser only)."""
    other = CertificateAuthority.create(now=NOW)
    builder = (x509.CertificateBuilder().subject_name(other.cert.subject).issuer_name(other.cert.subject)
               .public_key(other.key.public_key()).serial_number(1)
               .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1)))
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False)
    return fleetca.cert_pem(builder.sign(other.key, hashes.SHA256()))


@pytest.mark.parametrize("uris, message", [
    ([], "no subject alternative names"),
    (["spiffe://cachefleet/host/h1", "spiffe://cachefleet/client/admin/x"], "has 2 URI names"),
])
def test_a_certificate_without_exactly_one_fleet_uri_names_nobody(uris, message):
    with pytest.raises(IdentityError, match=message):
        identity_of_pem(_self_made(uris))


def test_a_certificate_from_another_ca_is_rejected(ca):
    other = CertificateAuthority.create(now=NOW)
    stranger = other.issue(Identity.client("mallory", "admin"), now=NOW)
    with pytest.raises(IdentityError, match="not signed by the fleet CA"):
        verify_certificate(stranger.cert_pem, ca.bundle_pem, now=NOW)
    # A CA rotation: a bundle of both CAs accepts both.
    assert verify_certificate(stranger.cert_pem, ca.bundle_pem + other.bundle_pem, now=NOW).name == "mallory"


def test_an_expired_or_not_yet_valid_certificate_is_rejected(ca):
    issued = ca.issue(Identity.host("h1"), days=10, now=NOW)
    with pytest.raises(IdentityError, match="not valid now"):
        verify_certificate(issued.cert_pem, ca.bundle_pem, now=NOW + dt.timedelta(days=11))
    with pytest.raises(IdentityError, match="not valid now"):
        verify_certificate(issued.cert_pem, ca.bundle_pem, now=NOW - dt.timedelta(days=1))


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keys_are_written_private_and_a_ca_is_never_replaced(tmp_path, ca):
    ca_dir = tmp_path / "ca"
    made = fleetca.init_ca(ca_dir)
    assert (_mode(ca_dir), _mode(ca_dir / "ca.key"), _mode(ca_dir / "ca.crt")) == (0o700, 0o600, 0o644)
    with pytest.raises(CaError, match="already holds a fleet CA"):
        fleetca.init_ca(ca_dir)
    loaded = CertificateAuthority.load(ca_dir)
    assert loaded.cert == made.cert
    files = write_issued(loaded.issue(Identity.host("host1"), ["127.0.1.1"]), loaded, tmp_path / "out")
    assert files == CredentialFiles.in_dir(tmp_path / "out", "host1")
    assert (_mode(files.key), _mode(files.cert), _mode(files.ca)) == (0o600, 0o644, 0o644)
    assert files.ca.read_bytes() == (ca_dir / "ca.crt").read_bytes()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []   # no temp files left
    assert b"PRIVATE KEY" not in files.cert.read_bytes()
    assert "PRIVATE" not in repr(files.load()) and "PRIVATE" not in repr(loaded)


def test_a_ca_bundle_signs_with_the_certificate_of_its_key(tmp_path):
    old, new = CertificateAuthority.create(now=NOW), CertificateAuthority.create(now=NOW)
    new.save(tmp_path)
    (tmp_path / "ca.crt").write_bytes(old.bundle_pem + new.bundle_pem)   # rotation: both trusted
    assert CertificateAuthority.load(tmp_path).cert == new.cert
    (tmp_path / "ca.crt").write_bytes(old.bundle_pem)
    with pytest.raises(CaError, match="holds no certificate of the key"):
        CertificateAuthority.load(tmp_path)


def test_expiring_lists_certificates_within_14_days_soonest_first(tmp_path, ca):
    for name, days in (("soon", 10), ("later", 30), ("sooner", 3)):
        write_issued(ca.issue(Identity.host(name), days=days, now=NOW), ca, tmp_path / name)
    paths = [tmp_path / n / f"{n}.crt" for n in ("soon", "later", "sooner")] + [tmp_path / "soon" / "ca.crt",
                                                                             tmp_path / "missing.crt"]
    found = expiring(paths, now=NOW)
    assert [e.identity for e in found] == [Identity.host("sooner"), Identity.host("soon")]
    assert found[0].sentence(NOW) == (f"Certificate spiffe://cachefleet/host/sooner ({paths[2]}) expires at "
                                      f"{found[0].not_after:%Y-%m-%dT%H:%M:%SZ}, in 3.0 days")
    later = NOW + dt.timedelta(days=29)
    assert [e.identity.name for e in expiring(paths, now=later)] == ["sooner", "soon", "later"]
    assert "expired at" in expiring(paths, now=later)[0].sentence(later)
    # The CA itself is reported when its end nears, named by its subject.
    in_ten_years = NOW + dt.timedelta(days=3645)
    assert [e.identity for e in expiring([paths[3]], now=in_ten_years)] == [None]


class FakeContext:
    """What a servicer's context gives: auth_context() only."""

    def __init__(self, auth: dict) -> None:
        self.auth = auth

    def auth_context(self) -> dict:
        return self.auth


def test_peer_identity_reads_the_certificate_grpc_verified(ca):
    issued = ca.issue(Identity.client("alice", Role.ADMIN), now=NOW)
    context = FakeContext({"transport_security_type": [b"ssl"], "x509_pem_cert": [issued.cert_pem]})
    assert peer_identity(context) == Identity.client("alice", "admin")
    with pytest.raises(IdentityError, match="not over TLS"):
        peer_identity(FakeContext({}))
    with pytest.raises(IdentityError, match="not over TLS"):
        peer_identity(FakeContext({"transport_security_type": [b"insecure"], "x509_pem_cert": [issued.cert_pem]}))
    with pytest.raises(IdentityError, match="presented no certificate"):
        peer_identity(FakeContext({"transport_security_type": [b"ssl"]}))
    with pytest.raises(IdentityError, match="unreadable"):
        peer_identity(FakeContext({"transport_security_type": [b"ssl"], "x509_pem_cert": [b"junk"]}))


def test_the_watch_takes_a_rotated_pair_and_keeps_the_old_one_through_a_half_done_rotation(tmp_path, ca):
    files = write_issued(ca.issue(Identity.host("h1"), now=NOW), ca, tmp_path)
    watch = CredentialWatch(files)
    first = watch.current
    assert watch.poll() is None                                  # nothing changed
    rotated = ca.issue(Identity.host("h1"), now=NOW)
    write_atomically(files.key, rotated.key_pem, 0o600)          # the key is in, the certificate not yet
    assert watch.poll() is None and watch.current == first
    write_atomically(files.cert, rotated.cert_pem, 0o644)
    taken = watch.poll()
    assert taken is not None and taken.cert == rotated.cert and watch.current == taken
    assert watch.poll() is None
    files.cert.unlink()                                          # a missing file keeps the last good set
    assert watch.poll() is None and watch.current == taken


def test_a_watch_refuses_to_start_on_a_mismatched_pair(tmp_path, ca):
    files = write_issued(ca.issue(Identity.host("h1"), now=NOW), ca, tmp_path)
    write_atomically(files.key, ca.issue(Identity.host("h1"), now=NOW).key_pem, 0o600)
    with pytest.raises(CredentialError, match="is not the key of"):
        CredentialWatch(files)


def test_the_cli_reading_without_cryptography_refuses_what_a_watch_refuses(tmp_path, ca):
    def issued(name: str) -> CredentialFiles:
        return write_issued(ca.issue(Identity.client(name, "admin"), now=NOW), ca, tmp_path / name)

    files = issued("alice")
    assert files.read_checked() == (files.cert.read_bytes(), files.key.read_bytes(), files.ca.read_bytes())
    write_atomically(files.key, ca.issue(Identity.client("alice", "admin"), now=NOW).key_pem, 0o600)
    with pytest.raises(CredentialError, match="is not the key of"):
        files.read_checked()
    files = issued("bob")
    write_atomically(files.ca, b"not a certificate", 0o644)
    with pytest.raises(CredentialError, match="unreadable credentials"):
        files.read_checked()
    files = issued("carol")
    write_atomically(files.cert, b"garbage", 0o644)
    with pytest.raises(CredentialError, match="unreadable credentials"):
        files.read_checked()
    files.key.unlink()
    with pytest.raises(CredentialError, match="cannot read credentials"):
        files.read_checked()


def test_provision_makes_a_local_fleet_once_and_reissues_only_what_changed_or_is_due(tmp_path):
    hosts = {"host1": ["127.0.1.1"], "host2": ["127.0.1.2"]}
    made = provision(tmp_path, coordinator_sans=["127.0.0.1"], hosts=hosts, now=NOW)
    assert made == [Identity.coordinator("coordinator"), Identity.host("host1"), Identity.host("host2"),
                    Identity.client("admin", "admin")]
    layout = FleetCaLayout(tmp_path)
    for files in (layout.coordinator(), layout.host("host1"), layout.client()):
        assert files.exists() and _mode(files.key) == 0o600
    ca_cert = (tmp_path / "ca.crt").read_bytes()
    assert provision(tmp_path, coordinator_sans=["127.0.0.1"], hosts=hosts, now=NOW) == []
    moved = {"host1": ["127.0.1.1"], "host2": ["127.0.1.9"]}
    assert provision(tmp_path, coordinator_sans=["127.0.0.1"], hosts=moved, now=NOW) == [Identity.host("host2")]
    due = NOW + dt.timedelta(days=360)
    assert len(provision(tmp_path, coordinator_sans=["127.0.0.1"], hosts=moved, now=due)) == 4
    assert (tmp_path / "ca.crt").read_bytes() == ca_cert
