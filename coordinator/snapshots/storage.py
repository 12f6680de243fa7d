"""Where snapshot objects live: the coordinator's configured object store.

The coordinator reads and deletes objects itself (copy, prune, delete) and tells agents the
same store URL and options to upload to and download from. `s3://bucket/prefix` (AWS S3,
MinIO, Ceph RGW through an endpoint URL) or `file:///dir` (the embedded default, for a
fleet whose hosts share one machine or one file system).
"""
from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass, field

from cachefleet.v1 import node_agent_pb2 as agent_pb

from cachefleet.common.objectstore import ObjectInfo, ObjectStore, ObjectStoreError, make_store
from cachefleet.common.objectstore.base import check_key

from coordinator.domain.errors import invalid


@dataclass
class SnapshotStorage:
    url: str
    endpoint_url: str = ""
    region: str = ""
    access_key: str = ""
    secret_key: str = ""
    _stores: dict[str, ObjectStore] = field(default_factory=dict, repr=False)

    def options(self) -> dict[str, str]:
        return {k: v for k, v in (("endpoint_url", self.endpoint_url), ("region", self.region),
                                  ("access_key", self.access_key), ("secret_key", self.secret_key)) if v}

    def agent_options(self) -> agent_pb.ObjectStoreOptions:
        return agent_pb.ObjectStoreOptions(**self.options())

    def store(self, url: str | None = None) -> ObjectStore:
        url = url or self.url
        if url not in self._stores:
            self._stores[url] = make_store(url, **(self.options() if url.startswith("s3:") else {}))
        return self._stores[url]

    def arn(self, key: str) -> str:
        """The object's address as users see it (Snapshot.arn, SnapshotArns)."""
        return self.url.rstrip("/") + "/" + key

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.store().delete, key)

    async def copy(self, source: str, target: str, metadata: dict[str, str]) -> ObjectInfo:
        """Stream one object to another key (through this process, chunk by chunk)."""
        store = self.store()

        def run() -> ObjectInfo:
            return store.put_stream(target, store.get_stream(source), metadata)
        return await asyncio.to_thread(run)


LOCAL_SCHEME = "local://"


def restore_location(store_url: str, arn: str) -> tuple[str, str]:
    """A user's RDB (SnapshotArns) as (store URL, key), only where the store may read: the
    agent runs as root, so a file outside the store's own directory would be copied off the
    host. An S3 store takes `s3://bucket/key` or `arn:aws:s3:::bucket/key` (the endpoint's own
    credentials decide access); a local store takes `local://key` (or a `file://` path) inside its directory."""
    if store_url.startswith("s3://"):
        return _s3_location(arn)
    return _local_location(store_url, arn)


def _s3_location(arn: str) -> tuple[str, str]:
    location = arn[len("arn:aws:s3:::"):] if arn.startswith("arn:aws:s3:::") else ""
    if not location:
        parsed = urllib.parse.urlparse(arn)
        location = f"{parsed.netloc}{parsed.path}" if parsed.scheme == "s3" and not parsed.query else ""
    bucket, _, key = location.partition("/")
    if not bucket or not _valid_key(key):
        raise invalid(f"SnapshotArns must name one RDB object as s3://bucket/key or arn:aws:s3:::bucket/key, "
                      f"got {arn!r}.")
    return f"s3://{bucket}", key


def _local_location(store_url: str, arn: str) -> tuple[str, str]:
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
    return store_url, key


def _valid_key(key: str) -> bool:
    try:
        check_key(key)
    except ObjectStoreError:
        return False
    return True


__all__ = ["SnapshotStorage", "restore_location", "ObjectStoreError"]
