"""The key that encrypts the secrets the store keeps (access keys' secrets), held in a file of
its own outside the store: a copy of the store (a backup, an etcd snapshot) reveals nothing
without it. Created on first use, readable by its owner only."""
from __future__ import annotations

import os
import pathlib

from cryptography.fernet import Fernet


def load_or_create(path: str | os.PathLike[str]) -> Fernet:
    file = pathlib.Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass   # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
    return Fernet(file.read_bytes().strip())
