"""Which state store to open, from one string: `sqlite:PATH` or `etcd://HOST:PORT,HOST:PORT[/PREFIX]`.

The same string on the coordinator (`--state-store`) and in `cachefleet state-store copy SRC DST`.
etcd's PREFIX is the fleet's namespace in a shared etcd (default /cachefleet/: records under
/cachefleet/state/, the leadership key beside them); its members are
reached over mutual TLS with the files given (the coordinator's own fleet certificate by
default), or in plaintext only when no files are given (a coordinator run with --insecure).
"""
from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

from cachefleet.common.tls.files import CredentialFiles
from coordinator.state.store.base import Store
from coordinator.state.store.etcd import DEFAULT_PREFIX, EtcdStore
from coordinator.state.store.etcdclient import DEFAULT_TIMEOUT, EtcdClient
from coordinator.state.store.sqlite import SqliteStore

_ENDPOINT = re.compile(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
SQLITE_FILE = "coordinator.db"
# under a fleet's etcd prefix: its records; beside them, its leadership key (state/election.py)
STATE = "state/"


@dataclass(frozen=True)
class StoreSpec:
    kind: str                               # "sqlite" or "etcd"
    path: str = ""                          # sqlite
    endpoints: tuple[str, ...] = ()         # etcd: HOST:PORT of each member
    prefix: str = DEFAULT_PREFIX            # etcd: where this fleet's keys live

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:{self.path}"
        return f"etcd://{','.join(self.endpoints)}{self.prefix.rstrip('/')}"


def default_spec(state_dir: str | pathlib.Path) -> StoreSpec:
    """The embedded default: one SQLite file in the coordinator's state directory."""
    return StoreSpec("sqlite", path=str(pathlib.Path(state_dir) / SQLITE_FILE))


def parse(text: str) -> StoreSpec:
    """The spec text names; ValueError saying what is expected otherwise."""
    if text.startswith("sqlite:"):
        path = text[len("sqlite:"):]
        if not path:
            raise ValueError("sqlite: needs a file: sqlite:PATH")
        return StoreSpec("sqlite", path=path)
    if text.startswith("etcd://"):
        members, _, prefix = text[len("etcd://"):].partition("/")
        endpoints = tuple(member for member in members.split(",") if member)
        bad = [member for member in endpoints if not _ENDPOINT.fullmatch(member)]
        if not endpoints or bad:
            raise ValueError(f"etcd:// needs HOST:PORT of each member, comma-separated, got {members!r}")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"etcd key prefix {prefix!r}: letters, digits, '.', '_', '-' and '/' only")
        name = prefix.strip("/")
        return StoreSpec("etcd", endpoints=endpoints, prefix=f"/{name}/" if name else DEFAULT_PREFIX)
    raise ValueError(f"a state store is sqlite:PATH or etcd://HOST:PORT[,HOST:PORT...][/PREFIX], got {text!r}")


def open_store(spec: StoreSpec, tls: CredentialFiles | None = None, timeout: float = DEFAULT_TIMEOUT) -> Store:
    """The store spec names (for etcd, inside the event loop that will use it)."""
    if spec.kind == "sqlite":
        pathlib.Path(spec.path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(spec.path)
    return EtcdStore(EtcdClient(spec.endpoints, tls=tls, timeout=timeout), prefix=spec.prefix + STATE)
