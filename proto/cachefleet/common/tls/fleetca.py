"""The fleet's certificate authority: one ECDSA P-256 key that signs every fleet certificate.

P-256 with SHA-256 is what every TLS stack, gRPC's BoringSSL included, accepts on both ends
of a connection. The CA lives in a directory (ca.crt, ca.key 0600); it signs three kinds of
certificates (identity.py says how each names its holder):

- host and coordinator certificates serve and call (extended key usage serverAuth and
  clientAuth) and carry the DNS names and IP addresses their servers answer on, which is
  what a caller checks against the address it dialled;
- client certificates only call (clientAuth) and carry no address.

Every issue makes a new key: rotating a certificate is issuing it again into the same place.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import pathlib
import secrets
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cachefleet.common.atomicfile import write_atomically
from cachefleet.common.tls.files import CA_CERT, CA_KEY, PRIVATE, PUBLIC, CredentialFiles, same_public_key
from cachefleet.common.tls.identity import Identity, IdentityError, identity_of

CA_DAYS = 3650
CERT_DAYS = 365
# Certificates start a little in the past, so a peer whose clock is behind accepts them at once.
BACKDATE = dt.timedelta(minutes=5)
ORGANIZATION = "cachefleet"


class CaError(Exception):
    """The CA directory is missing, already exists, or cannot sign what was asked."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    return "SHA256:" + cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def subject_alt_name(value: str) -> x509.GeneralName:
    """An IP address (v4 or v6) or a DNS name a server answers on; ValueError for anything else."""
    try:
        return x509.IPAddress(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    labels = value.lower().rstrip(".").split(".")
    if not value or len(value) > 253 or not all(_dns_label(label, i == 0) for i, label in enumerate(labels)):
        raise ValueError(f"invalid subject alternative name {value!r}: expected an IP address or a DNS name")
    return x509.DNSName(value.lower().rstrip("."))


def _dns_label(label: str, first: bool) -> bool:
    if first and label == "*":
        return True
    return 0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-" and all(
        c.isascii() and (c.isalnum() or c == "-") for c in label)


@dataclasses.dataclass(frozen=True)
class Issued:
    """A certificate just signed, with its new key."""
    identity: Identity
    cert: x509.Certificate
    key_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def __repr__(self) -> str:
        return f"Issued({self.identity}, serial={self.cert.serial_number:x})"


@dataclasses.dataclass(frozen=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    bundle_pem: bytes          # ca.crt as it is on disk: this CA's certificate, maybe beside others

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.cert.subject.rfc4514_string()!r})"

    @classmethod
    def create(cls, *, days: int = CA_DAYS, now: dt.datetime | None = None) -> CertificateAuthority:
        """A new CA. Its name carries a random suffix, so certificates of two fleets never look
        issued by the same name."""
        key = _new_key()
        start = _now(now) - BACKDATE
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"cachefleet fleet CA {secrets.token_hex(4)}")])
        public = key.public_key()
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name).public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(cert_sign=True), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key, cert_pem(cert))

    @classmethod
    def load(cls, directory: pathlib.Path | str) -> CertificateAuthority:
        """The CA in directory: ca.key and, in ca.crt, the certificate of that key."""
        directory = pathlib.Path(directory)
        try:
            key_pem, bundle = (directory / CA_KEY).read_bytes(), (directory / CA_CERT).read_bytes()
        except OSError as exc:
            raise CaError(f"no fleet CA in {directory}: {exc.strerror}: {exc.filename} "
                          "(`cachefleet ca init --dir DIR` makes one)") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            certs = x509.load_pem_x509_certificates(bundle)
        except ValueError as exc:
            raise CaError(f"unreadable fleet CA in {directory}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{directory / CA_KEY} is not an EC key")
        for cert in certs:
            if same_public_key(cert.public_key(), key.public_key()):
                return cls(cert, key, bundle)
        raise CaError(f"{directory / CA_CERT} holds no certificate of the key in {directory / CA_KEY}")

    def save(self, directory: pathlib.Path | str) -> None:
        """Write ca.key (0600) and ca.crt into directory (made 0700); refuse to replace a CA, since
        every certificate it signed would stop being trusted."""
        directory = pathlib.Path(directory)
        if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
            raise CaError(f"{directory} already holds a fleet CA ({CA_KEY}, {CA_CERT}); "
                          "remove it first to start a new fleet")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(directory / CA_KEY, _key_pem(self.key), PRIVATE)
        write_atomically(directory / CA_CERT, self.bundle_pem, PUBLIC)

    def issue(self, identity: Identity, sans: Sequence[str] = (), *, days: int = CERT_DAYS,
              now: dt.datetime | None = None) -> Issued:
        """Sign a new key for identity. sans: DNS names and IP addresses its server answers on."""
        names = [subject_alt_name(value) for value in sans]
        if names and not identity.serves:
            raise CaError("a client certificate carries no server names (--san is for hosts and coordinators)")
        key = _new_key()
        public = key.public_key()
        start = _now(now) - BACKDATE
        end = min(start + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if identity.serves else [])
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                   x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.kind.value),
                   x509.NameAttribute(NameOID.COMMON_NAME, identity.name[:64])]
        unique = list(dict.fromkeys([x509.UniformResourceIdentifier(identity.uri), *names]))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name(subject)).issuer_name(self.cert.subject).public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(cert_sign=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.SubjectAlternativeName(unique), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return Issued(identity, cert, _key_pem(key))


def init_ca(directory: pathlib.Path | str, *, days: int = CA_DAYS) -> CertificateAuthority:
    """`cachefleet ca init`: a new CA saved in directory."""
    ca = CertificateAuthority.create(days=days)
    ca.save(directory)
    return ca


def write_issued(issued: Issued, ca: CertificateAuthority, out: pathlib.Path | str,
                 name: str | None = None) -> CredentialFiles:
    """Put NAME.key (0600), NAME.crt and ca.crt in out (made 0700 if new); NAME is the identity's
    name unless given. Key first: see files.py for why a reader never takes a mismatched pair."""
    files = CredentialFiles.in_dir(out, name or issued.identity.name)
    if files.cert == files.ca or files.key == pathlib.Path(out) / CA_KEY:
        raise CaError(f"cannot write a certificate named {files.cert.stem!r}: {CA_CERT} and {CA_KEY} are the CA's")
    pathlib.Path(out).mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(files.key, issued.key_pem, PRIVATE)
    write_atomically(files.cert, issued.cert_pem, PUBLIC)
    write_atomically(files.ca, ca.bundle_pem, PUBLIC)
    return files


def verify_certificate(pem: bytes, ca_bundle_pem: bytes, *, now: dt.datetime | None = None) -> Identity:
    """The identity of a certificate, checked as gRPC checks a peer: signed by one of the CA
    certificates of the bundle and valid now. IdentityError otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        authorities = x509.load_pem_x509_certificates(ca_bundle_pem)
    except ValueError as exc:
        raise IdentityError(f"unreadable certificate: {exc}") from None
    when = _now(now)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise IdentityError(f"the certificate is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
                            f"to {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})")
    for authority in authorities:
        try:
            cert.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if authority.not_valid_before_utc <= when <= authority.not_valid_after_utc:
            return identity_of(cert)
    raise IdentityError(f"the certificate ({cert.subject.rfc4514_string()}) is not signed by the fleet CA")
