"""Object storage for snapshots: S3 (AWS, MinIO, Ceph RGW) or a local directory."""
from __future__ import annotations

import pathlib
import urllib.parse

from cachefleet.common.objectstore.base import MANIFEST_SUFFIX, ObjectInfo, ObjectStore, ObjectStoreError

__all__ = ["MANIFEST_SUFFIX", "ObjectInfo", "ObjectStore", "ObjectStoreError", "make_store"]


def make_store(url: str, **options) -> ObjectStore:
    """`s3://bucket[/prefix]` (options: endpoint_url, region, access_key, secret_key,
    part_size, connect_timeout, read_timeout, max_attempts), or `file:///dir` / a plain path."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        from cachefleet.common.objectstore.s3 import S3Store
        if not parsed.netloc:
            raise ObjectStoreError(f"object store URL {url!r} names no bucket")
        return S3Store(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), **options)
    if parsed.scheme == "file" or (parsed.scheme == "" and url):
        from cachefleet.common.objectstore.localdir import LocalDirStore
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise ObjectStoreError(f"object store URL {url!r}: file URLs must be local (file:///dir)")
        path = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url
        if not path:
            raise ObjectStoreError(f"object store URL {url!r} names no directory")
        return LocalDirStore(pathlib.Path(path), **options)
    raise ObjectStoreError(f"unsupported object store URL {url!r}: want s3://bucket/prefix, file:///dir or a path")
