"""Certificates of the engines' own TLS servers (TLS in transit), apart from the fleet's identities.

A cache node's key is made by its agent, on its host, and never leaves it: the agent answers
RequestNodeCertificate with a signing request, the coordinator signs it with the nodes' CA
and sends the certificate in the node's spec. The signer takes only the public key from the
request: the names come from the coordinator (the node's DNS name and its cluster's
endpoints), never from the request, so an agent cannot get a certificate for another name.

A node certificate carries no SPIFFE URI, so it names nobody to the fleet's gRPC servers
(identity.py refuses a certificate without one): a stolen engine key cannot call an agent or
the coordinator. It serves (serverAuth) and calls (clientAuth: a redis replica presents it
to its primary over the replication link).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cachefleet.common.tls.fleetca import (BACKDATE, ORGANIZATION, CertificateAuthority, CaError,
                                           _key_usage, cert_pem, subject_alt_name)
from cachefleet.common.tls.files import same_public_key

NODE_CERT_DAYS = 90
# Renewed this long before it expires: a coordinator away for a week still finds time to renew.
RENEW_BEFORE = dt.timedelta(days=30)


def new_key_pem() -> bytes:
    """A new P-256 key for one node's engine, PKCS#8 PEM (what redis and memcached read)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def csr_pem(key_pem: bytes, node_key: str) -> str:
    """A signing request for key_pem; the common name is for people reading it."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("a node key is an EC key")
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_key[:64])]))
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def sign_node(ca: CertificateAuthority, request_pem: str, node_key: str, names: Sequence[str], *,
              days: int = NODE_CERT_DAYS, now: dt.datetime | None = None) -> str:
    """A node certificate for the key of request_pem, naming names (DNS names, addresses)."""
    try:
        request = x509.load_pem_x509_csr(request_pem.encode())
    except ValueError as exc:
        raise CaError(f"unreadable certificate signing request: {exc}") from None
    if not request.is_signature_valid:
        raise CaError("the certificate signing request is not signed by its own key")
    public = request.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CaError("a node key is an EC key")
    sans = list(dict.fromkeys(subject_alt_name(name) for name in names))
    if not sans:
        raise CaError("a node certificate names at least one DNS name or address")
    start = (now if now is not None else dt.datetime.now(dt.UTC)) - BACKDATE
    end = min(start + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "node"),
                         x509.NameAttribute(NameOID.COMMON_NAME, node_key[:64])])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca.cert.subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    return cert_pem(cert).decode()


def matches_key(cert_text: str, key_pem: bytes) -> bool:
    """Whether cert_text is a certificate of key_pem (an engine refuses a mismatched pair)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_text.encode())
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return False
    return same_public_key(cert.public_key(), key.public_key())


def due(cert_text: str, names: Sequence[str], now: dt.datetime | None = None) -> bool:
    """Whether a node certificate must be signed again: unreadable, expiring within
    RENEW_BEFORE, or naming other names than the node has now."""
    try:
        cert = x509.load_pem_x509_certificate(cert_text.encode())
        have = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        wanted = {subject_alt_name(name) for name in names}
    except (ValueError, x509.ExtensionNotFound):
        return True
    when = now if now is not None else dt.datetime.now(dt.UTC)
    return cert.not_valid_after_utc - when < RENEW_BEFORE or have != wanted
