"""SigV4 access keys: an id, a secret, and the role the key acts with.

The Query API must have each secret in clear to make the signature again, so the store keeps
it encrypted (Fernet, with the key file of coordinator.state.secrets), never hashed; the
secret leaves the coordinator once, in the answer to its creation.
"""
from __future__ import annotations

import base64
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from coordinator.domain.errors import ApiError
from coordinator.state.repository import Repository
from coordinator.state.store import Store

PREFIX = "access-keys/"
ID_PREFIX = "AKCF"   # AWS's are AKIA...: recognisably not one of theirs


@dataclass
class AccessKeyRecord:
    access_key_id: str
    secret_encrypted: str
    role: str
    user_name: str
    created: float
    status: str = "Active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccessKeyRecord:
        return cls(**data)


def no_such_key(access_key_id: str) -> ApiError:
    return ApiError("NoSuchEntity", f"The Access Key with id {access_key_id} cannot be found.")


def new_id() -> str:
    return ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()[:16]


class AccessKeys(Repository[AccessKeyRecord]):
    def __init__(self, store: Store, cipher: Fernet) -> None:
        super().__init__(store, PREFIX, AccessKeyRecord.from_dict, lambda k: k.access_key_id, no_such_key,
                         "Access key")
        self._cipher = cipher

    async def create(self, role: str, user_name: str, now: float) -> tuple[AccessKeyRecord, str]:
        """A new key and its secret (the only time the secret is returned)."""
        secret = base64.b64encode(secrets.token_bytes(30)).decode()   # 40 characters, as AWS's
        while True:
            key_id = new_id()
            record = AccessKeyRecord(key_id, self._cipher.encrypt(secret.encode()).decode(), role,
                                     user_name or key_id, now)
            if await self.insert(record):
                return record, secret

    def secret(self, record: AccessKeyRecord) -> str | None:
        """The key's secret; None when this coordinator's key file did not encrypt it."""
        try:
            return self._cipher.decrypt(record.secret_encrypted.encode()).decode()
        except InvalidToken:
            return None
