"""The object-store contract the agent streams snapshots through.

Every backend keeps an object as two pieces: the data under its key and a small
JSON manifest beside it (key + MANIFEST_SUFFIX) holding size, sha256 and the
caller's metadata. The manifest is written last and removed first, so it is the
commit marker: an object without one (an upload that died between the two
writes) is never listed nor returned by head().
"""
from __future__ import annotations

import abc
import asyncio
import builtins
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO
from collections.abc import Iterable, Iterator

MANIFEST_SUFFIX = ".manifest.json"
_META_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A key, matched whole: segments of letters, digits, '.', '_', '-' (the first character not a
# '.'), joined by single '/'; no newline, no leading or trailing '/', so nothing a path or an
# S3 listing could read as another place.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
MAX_KEY_LENGTH = 900   # S3 takes 1024 bytes with the prefix


class ObjectStoreError(Exception):
    """Any failure of a backend (network, permissions, missing bucket, disk), with a clear message."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    last_modified: dt.datetime | None = None


def check_key(key: str) -> str:
    """Refuse keys that could escape a prefix/directory or collide with manifests."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key) or len(key) > MAX_KEY_LENGTH:
        raise ObjectStoreError(f"invalid object key {key!r}: want segments of [A-Za-z0-9._-] (not starting "
                               f"with '.') joined by '/', at most {MAX_KEY_LENGTH} characters")
    if ".." in key:
        raise ObjectStoreError(f"invalid object key {key!r}: '..' is not allowed")
    if key.endswith(MANIFEST_SUFFIX):
        raise ObjectStoreError(f"invalid object key {key!r}: the suffix {MANIFEST_SUFFIX} is reserved")
    return key


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Lower-case ASCII keys and printable ASCII values: what S3 user metadata carries everywhere."""
    for name, value in metadata.items():
        if not isinstance(name, str) or not _META_KEY.fullmatch(name):
            raise ObjectStoreError(f"invalid metadata key {name!r}: want lower-case [a-z0-9_-], at most 64")
        if not isinstance(value, str) or not value.isascii() or not value.isprintable():
            raise ObjectStoreError(f"invalid metadata value for {name!r}: want printable ASCII text")
    return dict(metadata)


def manifest_bytes(size: int, sha256: str, metadata: dict[str, str]) -> bytes:
    return json.dumps({"size": size, "sha256": sha256, "metadata": metadata}, sort_keys=True).encode()


def parse_manifest(key: str, raw: bytes, last_modified: dt.datetime | None) -> ObjectInfo:
    try:
        doc = json.loads(raw)
        return ObjectInfo(key=key, size=int(doc["size"]), sha256=str(doc["sha256"]),
                          metadata={str(k): str(v) for k, v in doc.get("metadata", {}).items()},
                          last_modified=last_modified)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ObjectStoreError(f"corrupt manifest for object {key!r}: {exc}") from exc


class ObjectStore(abc.ABC):
    """Blocking calls; the a*-variants run them in a worker thread for asyncio callers."""

    @abc.abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes], metadata: dict[str, str], *,
                   encrypted: bool = False) -> ObjectInfo:
        """Store the chunks under key without holding the whole object in memory.

        encrypted: at rest, as the backend can (S3 server-side encryption; a local
        directory readable by this process's user only). On any failure nothing is left
        listed. An exception raised by `chunks` itself propagates unchanged (after the
        clean-up); backend failures are ObjectStoreError.
        """

    @abc.abstractmethod
    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes; opening happens now (a missing key raises here), reading lazily."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The committed object's info, or None when there is none."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Committed objects whose keys start with prefix, sorted by key."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""

    def check_location(self, key: str) -> None:
        """Refuse (ObjectStoreError) a key that names nothing inside this store."""
        check_key(key)

    @abc.abstractmethod
    def probe(self) -> None:
        """Refuse (ObjectStoreError) a store this process cannot use: checked at start."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the objects live, for messages and logs (never credentials)."""

    def put_file(self, key: str, handle: BinaryIO, metadata: dict[str, str], *,
                 encrypted: bool = False) -> ObjectInfo:
        """Store an open file that nobody writes any more (read from where it stands to its
        end); as put_stream, which it is unless a backend can send the file's parts from
        the file itself."""
        return self.put_stream(key, iter(lambda: handle.read(1 << 20), b""), metadata, encrypted=encrypted)

    async def aput_file(self, key: str, handle: BinaryIO, metadata: dict[str, str], *,
                        encrypted: bool = False) -> ObjectInfo:
        return await asyncio.to_thread(lambda: self.put_file(key, handle, metadata, encrypted=encrypted))

    async def aput_stream(self, key: str, chunks: Iterable[bytes], metadata: dict[str, str], *,
                          encrypted: bool = False) -> ObjectInfo:
        return await asyncio.to_thread(lambda: self.put_stream(key, chunks, metadata, encrypted=encrypted))

    async def ahead(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self.head, key)

    async def alist(self, prefix: str) -> builtins.list[ObjectInfo]:
        return await asyncio.to_thread(self.list, prefix)

    async def adelete(self, key: str) -> None:
        await asyncio.to_thread(self.delete, key)
