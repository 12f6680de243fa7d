"""Secrets the coordinator must keep in clear form, stored encrypted (Fernet: AES-CBC + HMAC).

The key lives in a file outside the store (`--secrets-key-file`, 0600, made when missing), so a
copy of the store (a SQLite file, an etcd backup) reveals none of them. Only what the fleet must
send in clear is kept this way: a replication group's replication password, which its replicas
present to their primary. AUTH tokens and users' passwords are kept as hashes only.
"""
from __future__ import annotations

import os
import pathlib
import secrets

from cryptography.fernet import Fernet, InvalidToken


class SecretsError(Exception):
    """A secret could not be decrypted: another key, or a damaged value."""


def load_or_create_key(path: str | os.PathLike[str]) -> bytes:
    """The key in path, made there first (0600, never replaced) when the file does not exist."""
    file = pathlib.Path(path)
    try:
        return file.read_bytes().strip()
    except FileNotFoundError:
        pass
    file.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:             # another process made it first: use theirs
        return file.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> SecretBox:
        return cls(load_or_create_key(path))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError) as error:
            raise SecretsError("a stored secret cannot be decrypted with this key "
                               "(--secrets-key-file is not the one it was sealed with)") from error

    def new_password(self) -> tuple[str, str]:
        """A random password (printable, no space, 43 characters) and its sealed form."""
        password = secrets.token_urlsafe(32)
        return password, self.seal(password)

    def __repr__(self) -> str:        # never the key
        return "SecretBox()"


def load_or_create(path: str | os.PathLike[str]) -> Fernet:
    """A Fernet of the key in path (made there first when missing): what access keys' secrets
    are sealed with; the same file and format as SecretBox's."""
    return Fernet(load_or_create_key(path))
