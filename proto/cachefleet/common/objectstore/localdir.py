"""Objects as files under one directory: the embedded default for `cachefleet up`.

Each write goes to a temporary name in the target's own directory, is fsynced
and renamed into place, then the directory is fsynced; the manifest (the commit
marker, see base.py) follows the same way, so a crash leaves either the old
state or the new one, never a listed half-object.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Iterable, Iterator

from cachefleet.common.objectstore.base import (MANIFEST_SUFFIX, ObjectInfo, ObjectStore, ObjectStoreError, check_key,
                   check_metadata, manifest_bytes, parse_manifest)

_TMP_PREFIX = ".tmp-"
# At-rest encryption here is who may read: the files (made 0600 by mkstemp in any case) go in
# directories of the process's user alone, so no other user of the host lists or opens them.
PRIVATE_DIR_MODE = 0o700


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalDirStore(ObjectStore):
    def __init__(self, root: pathlib.Path | str, *, create: bool = True) -> None:
        self.root = pathlib.Path(root).absolute()
        try:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            if not self.root.is_dir():
                raise ObjectStoreError(f"object store directory {self.root} does not exist")
        except OSError as exc:
            raise ObjectStoreError(f"cannot use {self.root} as an object store: {exc}") from exc

    def describe(self) -> str:
        return f"file://{self.root}"

    def probe(self) -> None:
        if not self.root.is_dir():
            raise ObjectStoreError(f"object store directory {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ObjectStoreError(f"object store directory {self.root} is not writable")

    def _path(self, key: str) -> pathlib.Path:
        """The key's file; one a symlink leads out of the directory is refused: the agent runs
        as root and would otherwise read (or write) any file of the host."""
        path = self.root / check_key(key)
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ObjectStoreError(f"invalid object key {key!r}: it leads outside {self.describe()}")
        return path

    def check_location(self, key: str) -> None:
        self._path(key)

    def _fail(self, what: str, key: str, exc: BaseException) -> ObjectStoreError:
        return ObjectStoreError(f"{what} of {key!r} in {self.describe()} failed: {exc}")

    def _write_atomically(self, target: pathlib.Path, chunks: Iterable[bytes], digest=None) -> int:
        """Write chunks to target via temp file + fsync + rename; returns the byte count."""
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if digest is not None:
                        digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(target.parent)
        return size

    def _make_parents(self, path: pathlib.Path, private: bool) -> None:
        """The directories between the root and path; private: each one made here, and the
        object's own (not the root), 0700."""
        if not private:
            path.parent.mkdir(parents=True, exist_ok=True)
            return
        missing = [p for p in path.relative_to(self.root).parents if p != pathlib.Path(".")]
        for relative in reversed(missing):
            directory = self.root / relative
            try:
                directory.mkdir(mode=PRIVATE_DIR_MODE)
                os.chmod(directory, PRIVATE_DIR_MODE)   # whatever the umask
            except FileExistsError:
                pass
        if path.parent != self.root:   # the store's own directory is the operator's to set
            os.chmod(path.parent, PRIVATE_DIR_MODE)

    def put_stream(self, key: str, chunks: Iterable[bytes], metadata: dict[str, str], *,
                   encrypted: bool = False) -> ObjectInfo:
        path = self._path(key)
        metadata = check_metadata(metadata)
        manifest = path.with_name(path.name + MANIFEST_SUFFIX)
        digest = hashlib.sha256()
        try:
            self._make_parents(path, encrypted)
            # Uncommit any older version first so a failure below never pairs old manifest and new data.
            manifest.unlink(missing_ok=True)
            size = self._write_atomically(path, chunks, digest)
            self._write_atomically(manifest, [manifest_bytes(size, digest.hexdigest(), metadata)])
        except BaseException as exc:
            # Overwrites are not transactional: a failed rewrite leaves no object at all, never a mix.
            for leftover in (manifest, path):
                try:
                    leftover.unlink(missing_ok=True)
                except OSError:
                    pass
            if isinstance(exc, OSError):
                raise self._fail("write", key, exc) from exc
            raise
        info = self.head(key)
        if info is None:
            raise ObjectStoreError(f"write of {key!r} to {self.describe()} completed but the object is not visible")
        return info

    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except FileNotFoundError as exc:
            raise ObjectStoreError(f"no object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise self._fail("read", key, exc) from exc
        return self._iter_file(key, handle, chunk_size)

    def _iter_file(self, key: str, handle, chunk_size: int) -> Iterator[bytes]:
        with handle:
            try:
                while chunk := handle.read(chunk_size):
                    yield chunk
            except OSError as exc:
                raise self._fail("read", key, exc) from exc

    def _info(self, key: str, path: pathlib.Path) -> ObjectInfo | None:
        manifest = path.with_name(path.name + MANIFEST_SUFFIX)
        try:
            raw = manifest.read_bytes()
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail("head", key, exc) from exc
        info = parse_manifest(key, raw, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC))
        if info.size != stat.st_size:
            raise ObjectStoreError(f"object {key!r} in {self.describe()} holds {stat.st_size} bytes, "
                                   f"its manifest says {info.size}")
        return info

    def head(self, key: str) -> ObjectInfo | None:
        return self._info(key, self._path(key))

    def list(self, prefix: str) -> list[ObjectInfo]:
        found = []
        try:
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    if not name.endswith(MANIFEST_SUFFIX) or name.startswith(_TMP_PREFIX):
                        continue
                    data = pathlib.Path(dirpath) / name[:-len(MANIFEST_SUFFIX)]
                    key = data.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        info = self._info(key, data)
                        if info is not None:
                            found.append(info)
        except OSError as exc:
            raise self._fail("listing", prefix, exc) from exc
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.with_name(path.name + MANIFEST_SUFFIX).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            if path.parent.exists():
                _fsync_dir(path.parent)
        except OSError as exc:
            raise self._fail("delete", key, exc) from exc
