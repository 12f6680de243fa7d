"""Where snapshot objects live: one named object store, the same name on every agent.

Agents upload and download snapshots themselves, to and from their own store of that name
(`--store NAME=URL` on each agent); the coordinator only says the name and a key. It reads
and deletes objects itself too (copy, prune, delete), through its own configuration of the
same store: its own `--store NAME=URL` and its own credentials, which it never sends anyone.
`s3://bucket/prefix` (AWS S3, MinIO, Ceph RGW through an endpoint URL) or `file:///dir` (the
embedded default, for a fleet whose hosts share one machine or one file system).
"""
from __future__ import annotations

import asyncio
import pathlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from cachefleet.common.objectstore import ObjectInfo, ObjectStore, ObjectStoreError
from cachefleet.common.objectstore.base import check_key
from cachefleet.common.objectstore.named import StoreConfig, open_named, probe

from coordinator.domain.errors import invalid

log = structlog.get_logger("snapshots.storage")


@dataclass
class SnapshotStorage:
    config: StoreConfig           # the coordinator's own access to the store agents know by config.name
    _store: ObjectStore | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """What agents are told: the name of one of their own stores."""
        return self.config.name

    @property
    def url(self) -> str:
        return self.config.url

    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = open_named(self.config)
        return self._store

    async def check(self) -> None:
        """Log at start whether the coordinator itself can use the store (it copies, prunes
        and deletes there); the agents report their own access in DescribeHosts."""
        error = await asyncio.to_thread(probe, self.config)
        if error:
            log.error("snapshot store unreachable", store=self.name, location=self.config.location(), error=error)
        else:
            log.info("snapshot store available", store=self.name, location=self.config.location())

    def arn(self, key: str) -> str:
        """The object's address as users see it (Snapshot.arn, SnapshotArns)."""
        return self.url.rstrip("/") + "/" + key

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(lambda: self.store().delete(key))

    async def copy(self, source: str, target: str, metadata: dict[str, str], *, encrypted: bool) -> ObjectInfo:
        """Stream one object to another key (through this process, chunk by chunk); a copy of
        an encrypted snapshot is stored encrypted too."""

        def run() -> ObjectInfo:
            store = self.store()
            return store.put_stream(target, store.get_stream(source), metadata, encrypted=encrypted)
        return await asyncio.to_thread(run)


def own_config(name: str, stores: Mapping[str, StoreConfig], state_dir: pathlib.Path) -> StoreConfig:
    """The coordinator's configuration of the snapshot store: the one its flags give under
    that name, else the directory <state_dir>/snapshots (made here: it is the coordinator's own)."""
    if name in stores:
        return stores[name]
    root = (state_dir / "snapshots").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return StoreConfig(name, root.as_uri())


LOCAL_SCHEME = "local://"


def restore_location(store_url: str, arn: str) -> str:
    """A user's RDB (SnapshotArns) as its key in the snapshot store, which is all an agent
    may read (a request names a store and a key, never a URL). An S3 store takes
    `s3://bucket/prefix/key` or `arn:aws:s3:::bucket/prefix/key` of its own bucket and prefix;
    a local store takes `local://key` (or a `file://` path) inside its directory."""
    if store_url.startswith("s3://"):
        return _s3_location(store_url, arn)
    return _local_location(store_url, arn)


def _s3_location(store_url: str, arn: str) -> str:
    location = arn[len("arn:aws:s3:::"):] if arn.startswith("arn:aws:s3:::") else ""
    if not location:
        parsed = urllib.parse.urlparse(arn)
        location = f"{parsed.netloc}{parsed.path}" if parsed.scheme == "s3" and not parsed.query else ""
    root = store_url[len("s3://"):].strip("/") + "/"
    key = location[len(root):] if location.startswith(root) else ""
    if not _valid_key(key):
        raise invalid(f"SnapshotArns must name one RDB object in the snapshot store, as {store_url.rstrip('/')}/"
                      f"path/file.rdb or arn:aws:s3:::{root}path/file.rdb, got {arn!r}.")
    return key


def _local_location(store_url: str, arn: str) -> str:
    """`local://key` (the object's path inside the store: what the CLI passes through, as it
    reads `file://` as "load this file") or `file://` with the absolute path inside it."""
    if arn.startswith(LOCAL_SCHEME):
        key = arn[len(LOCAL_SCHEME):]
    else:
        parsed = urllib.parse.urlparse(arn)
        root = urllib.parse.unquote(urllib.parse.urlparse(store_url).path).rstrip("/")
        path = urllib.parse.unquote(parsed.path)
        inside = parsed.scheme == "file" and parsed.netloc in ("", "localhost") and path.startswith(root + "/")
        key = path[len(root) + 1:] if inside else ""
    if not _valid_key(key):
        raise invalid(f"SnapshotArns must name one RDB object inside the snapshot store {store_url}/ by its path "
                      f"there, as {LOCAL_SCHEME}path/file.rdb, got {arn!r}.")
    return key


def _valid_key(key: str) -> bool:
    try:
        check_key(key)
    except ObjectStoreError:
        return False
    return True


__all__ = ["SnapshotStorage", "own_config", "restore_location", "ObjectStoreError"]
