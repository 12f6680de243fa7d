"""Who is on the other end of a TLS connection: a host, a coordinator, or a client with a role.

A fleet certificate names its holder in exactly one URI subject alternative name, a SPIFFE ID
in the trust domain `cachefleet`:

    spiffe://cachefleet/host/<host-id>
    spiffe://cachefleet/coordinator/<name>
    spiffe://cachefleet/client/<role>/<name>      role: readonly, operator or admin

SPIFFE IDs carry no query, so a client's role is a path segment. The subject (O=cachefleet,
OU=<kind>, CN=<name>) is for people reading the certificate; only the URI decides. Names are
matched whole: anything the grammar does not allow (an empty or dotted-only segment, a
percent escape, a query, a second URI) is refused rather than guessed at.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import re
from typing import Any, Protocol

from cryptography import x509

TRUST_DOMAIN = "cachefleet"
SPIFFE_PREFIX = f"spiffe://{TRUST_DOMAIN}/"
# Host ids are names like host1 or addresses (the agent's default id is its --address, IPv6 too).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class IdentityError(ValueError):
    """The peer is not a fleet identity: no TLS, no certificate, or one we do not understand."""


class Kind(enum.StrEnum):
    HOST = "host"
    COORDINATOR = "coordinator"
    CLIENT = "client"


class Role(enum.StrEnum):
    """A client's powers on CacheControl, each including the one before."""
    READONLY = "readonly"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


def check_name(name: str, what: str = "name") -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise IdentityError(f"invalid {what} {name!r}: expected 1-128 of letters, digits, '.', '_', ':', '-', "
                            "starting with a letter or digit")
    return name


@dataclasses.dataclass(frozen=True)
class Identity:
    kind: Kind
    name: str
    role: Role | None = None    # clients only

    def __post_init__(self) -> None:
        if self.role is not None:
            object.__setattr__(self, "role", _role(self.role))
        check_name(self.name, f"{self.kind.value} name")
        if (self.role is None) != (self.kind is not Kind.CLIENT):
            raise IdentityError(f"a {self.kind.value} identity {'needs' if self.kind is Kind.CLIENT else 'has no'} role")

    @classmethod
    def host(cls, host_id: str) -> Identity:
        return cls(Kind.HOST, host_id)

    @classmethod
    def coordinator(cls, name: str) -> Identity:
        return cls(Kind.COORDINATOR, name)

    @classmethod
    def client(cls, name: str, role: Role | str) -> Identity:
        return cls(Kind.CLIENT, name, _role(role))

    @property
    def uri(self) -> str:
        if self.role is not None:
            return f"{SPIFFE_PREFIX}{self.kind.value}/{self.role.value}/{self.name}"
        return f"{SPIFFE_PREFIX}{self.kind.value}/{self.name}"

    @property
    def serves(self) -> bool:
        """Hosts and coordinators run servers (and call each other); clients only call."""
        return self.kind is not Kind.CLIENT

    def __str__(self) -> str:
        return self.uri


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise IdentityError(f"invalid role {value!r}: expected one of {', '.join(r.value for r in Role)}") from None


def parse_uri(uri: str) -> Identity:
    """The identity a SPIFFE ID names; IdentityError for anything else."""
    if not uri.startswith(SPIFFE_PREFIX):
        raise IdentityError(f"not a {TRUST_DOMAIN} identity: {uri!r}")
    segments = uri[len(SPIFFE_PREFIX):].split("/")
    kind, rest = segments[0], segments[1:]
    if kind == Kind.CLIENT.value and len(rest) == 2:
        return Identity.client(check_name(rest[1]), rest[0])
    if kind in (Kind.HOST.value, Kind.COORDINATOR.value) and len(rest) == 1:
        return Identity(Kind(kind), check_name(rest[0]))
    raise IdentityError(f"not a {TRUST_DOMAIN} identity: {uri!r}")


def identity_of(cert: x509.Certificate) -> Identity:
    """The identity in a certificate's one URI SAN (its issuer is not checked here)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("the certificate has no subject alternative names") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise IdentityError(f"the certificate has {len(uris)} URI names, a fleet certificate has one")
    return parse_uri(uris[0])


@functools.lru_cache(maxsize=16384)   # a fleet's certificates: a smaller LRU misses on every call
def identity_of_pem(pem: bytes) -> Identity:
    """identity_of for a PEM certificate; cached, since every call on a connection shows the same one."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise IdentityError(f"unreadable peer certificate: {exc}") from None
    return identity_of(cert)


class _HasAuthContext(Protocol):
    def auth_context(self) -> Any: ...


def peer_identity(context: _HasAuthContext) -> Identity:
    """The caller of an RPC, from `context.auth_context()` of a grpc (or grpc.aio) servicer.

    The server's credentials (credentials.server_credentials) make gRPC check the chain to the
    fleet CA and require a client certificate; this reads who it names. A plaintext or
    certificate-less call raises IdentityError.
    """
    auth = context.auth_context() or {}
    if [bytes(v) for v in auth.get("transport_security_type", [])] != [b"ssl"]:
        raise IdentityError("the call is not over TLS")
    pems = auth.get("x509_pem_cert") or []
    if len(pems) != 1:
        raise IdentityError("the caller presented no certificate")
    return identity_of_pem(bytes(pems[0]))
