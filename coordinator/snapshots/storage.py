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

from nodeagent.objectstore import ObjectInfo, ObjectStore, ObjectStoreError, make_store

from ..errors import invalid


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


def split_arn(arn: str) -> tuple[str, str]:
    """A user's RDB location, `s3://bucket/path/file.rdb` or `file:///dir/file.rdb`, as
    (store URL, key); InvalidParameterValue when it is neither."""
    parsed = urllib.parse.urlparse(arn)
    if parsed.scheme == "s3" and parsed.netloc and parsed.path.strip("/"):
        return f"s3://{parsed.netloc}", parsed.path.lstrip("/")
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost") and parsed.path.count("/") >= 2 \
            and not parsed.path.endswith("/"):
        directory, _, name = parsed.path.rpartition("/")
        return f"file://{directory}", name
    raise invalid(f"SnapshotArns must name one RDB object as s3://bucket/key (or file:///path), got {arn!r}.")


__all__ = ["SnapshotStorage", "split_arn", "ObjectStoreError"]
