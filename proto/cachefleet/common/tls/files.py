"""Credential files on disk: where they are, how they are written, and reading them as one set.

A directory made by `cachefleet ca issue --out DIR` holds NAME.crt (the certificate), NAME.key
(its private key, mode 0600) and ca.crt (the fleet CA's certificate, or several during a CA
rotation). Each file is replaced in one rename, key before certificate, so a reader sees old
or new files, never half of one; between the two renames it may see a new key beside the old
certificate, which `load` refuses (the pair does not match) so the reader keeps what it had.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # cryptography loads when a set is loaded, not with this module (the CLI never needs it)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
PRIVATE = 0o600
PUBLIC = 0o644


class CredentialError(Exception):
    """Credential files are missing, unreadable or do not belong together."""


@dataclasses.dataclass(frozen=True)
class KeyMaterial:
    """One consistent set read from CredentialFiles: PEM bytes, the key matching the certificate."""
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes
    cert: x509.Certificate

    def __repr__(self) -> str:   # never the key, not even in a traceback's locals
        return f"KeyMaterial(subject={self.cert.subject.rfc4514_string()!r}, serial={self.cert.serial_number:x})"


@dataclasses.dataclass(frozen=True)
class CredentialFiles:
    cert: pathlib.Path
    key: pathlib.Path
    ca: pathlib.Path

    @classmethod
    def in_dir(cls, directory: pathlib.Path | str, name: str) -> CredentialFiles:
        """NAME.crt, NAME.key and ca.crt in directory, as `cachefleet ca issue --out` writes them."""
        directory = pathlib.Path(directory)
        return cls(directory / f"{name}.crt", directory / f"{name}.key", directory / CA_CERT)

    @property
    def paths(self) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
        return self.cert, self.key, self.ca

    @property
    def certificate_paths(self) -> tuple[pathlib.Path, pathlib.Path]:
        """The public files, the ones to watch for expiry (expiry.expiring)."""
        return self.cert, self.ca

    def exists(self) -> bool:
        return all(path.is_file() for path in self.paths)

    def signature(self) -> tuple[tuple[int, int, int], ...] | None:
        """What changes when any of the files is replaced (inode, size, mtime); None if one is missing.
        Cheap enough to take on every TLS handshake."""
        try:
            stats = [os.stat(path) for path in self.paths]
        except FileNotFoundError:
            return None
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def load(self) -> KeyMaterial:
        """The three files, checked to belong together; CredentialError otherwise."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        try:
            cert_pem, key_pem, ca_pem = (path.read_bytes() for path in self.paths)
        except OSError as exc:
            raise CredentialError(f"cannot read credentials: {exc}") from None
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
            x509.load_pem_x509_certificates(ca_pem)
        except ValueError as exc:
            raise CredentialError(f"unreadable credentials in {self.cert.parent}: {exc}") from None
        if not same_public_key(cert.public_key(), key.public_key()):
            raise CredentialError(f"{self.key} is not the key of {self.cert} (a rotation half done?)")
        return KeyMaterial(cert_pem, key_pem, ca_pem, cert)

    def read_checked(self) -> tuple[bytes, bytes, bytes]:
        """The PEM bytes of (cert, key, ca), checked to belong together by the ssl module rather
        than by cryptography: a short-lived process (the CLI) saves cryptography's import, which
        costs more than the call it makes. CredentialError as from `load`."""
        try:
            cert_pem, key_pem, ca_pem = (path.read_bytes() for path in self.paths)
        except OSError as exc:
            raise CredentialError(f"cannot read credentials: {exc}") from None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(self.cert, self.key)
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise CredentialError(f"{self.key} is not the key of {self.cert} (a rotation half done?)") from None
            raise CredentialError(f"unreadable credentials in {self.cert.parent}: {exc}") from None
        try:
            context.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise CredentialError(f"unreadable credentials in {self.cert.parent}: {exc}") from None
        return cert_pem, key_pem, ca_pem


def same_public_key(a: PublicKeyTypes, b: PublicKeyTypes) -> bool:
    from cryptography.hazmat.primitives import serialization
    def der(key: PublicKeyTypes) -> bytes:
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der(a) == der(b)
