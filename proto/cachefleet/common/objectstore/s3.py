"""S3-compatible object store through boto3 (AWS S3, MinIO, Ceph RGW, moto)."""
from __future__ import annotations

import base64
import collections
import concurrent.futures
import hashlib
import io
import logging
import mmap
import os
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import boto3
import botocore.config
import botocore.exceptions

from cachefleet.common.objectstore.base import (MANIFEST_SUFFIX, ObjectInfo, ObjectStore, ObjectStoreError, check_key,
                   check_metadata, manifest_bytes, parse_manifest)

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 << 20          # S3's floor for every part but the last
DEFAULT_PART_SIZE = 8 << 20
MAX_PARTS = 10_000
MAX_UPLOAD_CONCURRENCY = 16
FILE_BLOCK = 1 << 20           # put_file's reads (checksums, sha256)
CLEAN_UP_RETRY_S = 120.0      # how long a failed upload's abort is retried from a thread
CLEAN_UP_INTERVAL_S = 1.0

_BACKEND_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

# One boto3 session for every store: a new session parses botocore's service models again
# (~15 MB of objects for S3), and the agent opens a store per snapshot or restore.
# Sessions are not thread-safe, so clients are made under a lock; clients themselves are.
_SESSION: boto3.session.Session | None = None
_SESSION_LOCK = threading.Lock()


def _client(**kwargs):
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION.client("s3", **kwargs)


def _part_buffer(size: int) -> mmap.mmap:
    """A part buffer of its own anonymous mapping: its pages go back to the OS when it is
    freed, where a large bytearray may stay in malloc's arenas (the agent's RSS)."""
    return mmap.mmap(-1, size)


def _missing(exc: botocore.exceptions.ClientError) -> bool:
    """The key is absent (a missing bucket is a configuration error, not this)."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class _Slice(io.RawIOBase):
    """A seekable read-only file over `length` bytes of something (botocore seeks it back
    to resend or to hash a part), served without a copy of the whole."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = length
        self._pos = 0

    def _read_at(self, pos: int, size: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        # Straight from the source: RawIOBase.read would allocate a scratch buffer and copy it again.
        end = self._length if size is None or size < 0 else min(self._length, self._pos + size)
        data = self._read_at(self._pos, max(0, end - self._pos))
        self._pos = max(self._pos, self._pos + len(data))
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._length


class _PartReader(_Slice):
    """The first `length` bytes of a part buffer."""

    def __init__(self, buffer: bytearray | mmap.mmap, length: int) -> None:
        super().__init__(length)
        self._view = memoryview(buffer)[:length]

    @property
    def data(self) -> memoryview:
        """The bytes it serves (for a checksum), without a copy."""
        return self._view

    def _read_at(self, pos: int, size: int) -> bytes:
        return self._view[pos:pos + size].tobytes()


class _FileSlice(_Slice):
    """`length` bytes of an open file from `offset`, read (os.pread) only as they are sent:
    a part in flight holds no buffer of its own."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        super().__init__(length)
        self._fd = fd
        self._offset = offset

    def _read_at(self, pos: int, size: int) -> bytes:
        data = os.pread(self._fd, size, self._offset + pos)
        if len(data) < size:
            raise OSError(f"the file ended {self._offset + pos + len(data)} bytes in, inside a part")
        return data

    def crc32_b64(self) -> str:
        crc = 0
        for pos in range(0, self._length, FILE_BLOCK):
            crc = zlib.crc32(self._read_at(pos, min(FILE_BLOCK, self._length - pos)), crc)
        return base64.b64encode(crc.to_bytes(4, "big")).decode()


def crc32_b64(data) -> str:
    """S3's encoding of a CRC32: the big-endian 4 bytes, base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


# Each call's attempts (botocore's standard retry mode, as the AWS SDKs default to): a store
# that is down fails a snapshot within seconds, not after a long back-off; an upload's parts
# are retried one by one, so a transient error costs one part again, not the upload.
DEFAULT_ATTEMPTS = 3


class S3Store(ObjectStore):
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                 session_token: str | None = None, part_size: int = DEFAULT_PART_SIZE,
                 connect_timeout: float = 10, read_timeout: float = 60, max_attempts: int = DEFAULT_ATTEMPTS,
                 addressing_style: str | None = None, upload_concurrency: int = 0,
                 part_checksums: bool = True) -> None:
        if part_size < MIN_PART_SIZE:
            raise ObjectStoreError(f"part size {part_size} is below S3's minimum of {MIN_PART_SIZE} bytes")
        if not 0 <= upload_concurrency <= MAX_UPLOAD_CONCURRENCY:
            raise ObjectStoreError(f"upload_concurrency {upload_concurrency} is not within 0..{MAX_UPLOAD_CONCURRENCY}")
        if (access_key is None) != (secret_key is None):
            raise ObjectStoreError("give both access_key and secret_key, or neither (then boto3's usual chain applies)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        # put_stream's parts in flight while it reads the next: 0 sends each part before
        # reading on (one part buffer); N >= 1 keeps up to N parts on their way while the
        # next is filled (N + 1 part buffers), so reading, hashing and the server's work on
        # earlier parts overlap.
        self.upload_concurrency = upload_concurrency
        # A CRC32 of every part, computed here and sent as the x-amz-checksum-crc32 header (not
        # as a streaming trailer, which older MinIO/RGW refuse): the server checks each part
        # and keeps a composite checksum instead of re-reading the whole object at completion,
        # as the AWS SDKs' own uploads do. part_checksums=False for a server without checksums.
        self.part_checksums = part_checksums
        config = botocore.config.Config(
            max_pool_connections=max(10, upload_concurrency + 2),
            region_name=region, connect_timeout=connect_timeout, read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
            # Only checksum when the operation demands it: MinIO/RGW/older servers reject the new trailers.
            request_checksum_calculation="when_required", response_checksum_validation="when_required")
        try:
            self.client = _client(
                endpoint_url=endpoint_url, aws_access_key_id=access_key,
                aws_secret_access_key=secret_key, aws_session_token=session_token, config=config)
        except _BACKEND_ERRORS as exc:
            raise ObjectStoreError(f"cannot set up the S3 client for {self.describe()}: {exc}") from exc

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, what: str, key: str, exc: BaseException) -> ObjectStoreError:
        return ObjectStoreError(f"{what} of {key!r} in {self.describe()} failed: {exc}")

    # -- writing -----------------------------------------------------------------------------

    def put_stream(self, key: str, chunks: Iterable[bytes], metadata: dict[str, str], *,
                   encrypted: bool = False) -> ObjectInfo:
        full = self._full(key)
        metadata = check_metadata(metadata)
        # SSE-S3: the store keeps the object encrypted under its own keys (AES256); every
        # write of it says so, the manifest's too, so no piece of it rests in clear.
        sse = {"ServerSideEncryption": "AES256"} if encrypted else {}
        digest = hashlib.sha256()
        size = 0
        upload_id: str | None = None
        etags: dict[int, str] = {}
        data_written = False
        # Preallocated part buffers, refilled in place and handed to botocore as files: the
        # upload holds at most upload_concurrency + 1 parts, and never a second copy of one.
        buffer = _part_buffer(self.part_size)
        filled = 0
        concurrency = self.upload_concurrency
        pool = (concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="s3-part")
                if concurrency > 0 else None)
        in_flight: collections.deque[tuple[concurrent.futures.Future, mmap.mmap]] = collections.deque()
        spare: list[mmap.mmap] = []
        numbered = 0  # parts handed out so far

        crcs: dict[int, str] = {}

        def send_part(number: int, body: _PartReader) -> None:
            extra = {}
            if self.part_checksums:
                crcs[number] = extra["ChecksumCRC32"] = crc32_b64(body.data)
            etags[number] = self.client.upload_part(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                                    PartNumber=number, Body=body, **extra)["ETag"]

        def wait_oldest() -> None:
            future, done = in_flight.popleft()
            future.result()
            spare.append(done)

        def upload_part(part: mmap.mmap, length: int) -> mmap.mmap:
            """Send (or hand to the pool) part[:length]; returns the buffer to fill next."""
            nonlocal upload_id, numbered
            if upload_id is None:
                upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=full, Metadata=metadata, **sse,
                    **({"ChecksumAlgorithm": "CRC32"} if self.part_checksums else {}))["UploadId"]
            numbered += 1
            number = numbered
            if number > MAX_PARTS:
                raise ObjectStoreError(f"object {key!r} needs more than {MAX_PARTS} parts; raise part_size")
            if pool is None:
                send_part(number, _PartReader(part, length))
                return part
            if len(in_flight) >= concurrency:
                wait_oldest()
            in_flight.append((pool.submit(send_part, number, _PartReader(part, length)), part))
            return spare.pop() if spare else _part_buffer(self.part_size)

        try:
            try:
                # Uncommit any older version first, so a failure below can never pair its manifest with new data.
                self.client.delete_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX)
                for chunk in chunks:
                    if not chunk:
                        continue
                    digest.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk).cast("B")
                    while view:
                        take = min(len(view), self.part_size - filled)
                        buffer[filled:filled + take] = view[:take]
                        filled += take
                        view = view[take:]
                        if filled == self.part_size:
                            buffer = upload_part(buffer, filled)
                            filled = 0
                if upload_id is None:
                    # Small enough for one request: a plain PUT is atomic already.
                    self.client.put_object(Bucket=self.bucket, Key=full, Body=_PartReader(buffer, filled),
                                           Metadata=metadata, **sse)
                else:
                    if filled:
                        upload_part(buffer, filled)
                    while in_flight:
                        wait_oldest()
                    parts = [{"PartNumber": number, "ETag": etags[number],
                              **({"ChecksumCRC32": crcs[number]} if number in crcs else {})}
                             for number in sorted(etags)]
                    self.client.complete_multipart_upload(
                        Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts})
                    upload_id = None
                data_written = True
                sha = digest.hexdigest()
                self.client.put_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX,
                                       Body=manifest_bytes(size, sha, metadata),
                                       ContentType="application/json", **sse)
            except _BACKEND_ERRORS as exc:
                raise self._fail("upload", key, exc) from exc
        except BaseException:
            if pool is not None:  # no part may still be on its way when the upload is aborted
                pool.shutdown(wait=True, cancel_futures=True)
            self._clean_up(full, upload_id, data_written)
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        head = self.head(key)
        if head is None:
            raise ObjectStoreError(f"upload of {key!r} to {self.describe()} completed but the object is not visible")
        return head

    def put_file(self, key: str, handle: BinaryIO, metadata: dict[str, str], *,
                 encrypted: bool = False) -> ObjectInfo:
        """Each part read from the file as it is sent, upload_concurrency of them at once,
        beside one sequential read for the sha256: no part buffers, so more parts can be in
        flight (as boto3's upload_file) without the memory they would cost in put_stream."""
        fd = handle.fileno()
        start = handle.tell()
        size = os.fstat(fd).st_size - start
        if size <= self.part_size or self.upload_concurrency == 0:
            return super().put_file(key, handle, metadata, encrypted=encrypted)
        if -(-size // self.part_size) > MAX_PARTS:
            raise ObjectStoreError(f"object {key!r} needs more than {MAX_PARTS} parts; raise part_size")
        full = self._full(key)
        metadata = check_metadata(metadata)
        sse = {"ServerSideEncryption": "AES256"} if encrypted else {}
        upload_id: str | None = None
        data_written = False
        pool = concurrent.futures.ThreadPoolExecutor(self.upload_concurrency, thread_name_prefix="s3-part")
        try:
            try:
                # Uncommit any older version first, so a failure below can never pair its manifest with new data.
                self.client.delete_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX)
                upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=full, Metadata=metadata, **sse,
                    **({"ChecksumAlgorithm": "CRC32"} if self.part_checksums else {}))["UploadId"]
                futures = [pool.submit(self._send_file_part, full, upload_id, number,
                                       _FileSlice(fd, start + offset, min(self.part_size, size - offset)))
                           for number, offset in enumerate(range(0, size, self.part_size), start=1)]
                digest = hashlib.sha256()
                for offset in range(0, size, FILE_BLOCK):
                    block = os.pread(fd, min(FILE_BLOCK, size - offset), start + offset)
                    if not block:
                        raise OSError(f"the file ended {offset} bytes in, before {size}")
                    digest.update(block)
                parts = [future.result() for future in futures]
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts})
                upload_id = None
                data_written = True
                self.client.put_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX,
                                       Body=manifest_bytes(size, digest.hexdigest(), metadata),
                                       ContentType="application/json", **sse)
            except _BACKEND_ERRORS as exc:
                raise self._fail("upload", key, exc) from exc
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # no part may still be on its way when it is aborted
            self._clean_up(full, upload_id, data_written)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        head = self.head(key)
        if head is None:
            raise ObjectStoreError(f"upload of {key!r} to {self.describe()} completed but the object is not visible")
        return head

    def _send_file_part(self, full: str, upload_id: str, number: int, body: _FileSlice) -> dict[str, str | int]:
        checksum = {"ChecksumCRC32": body.crc32_b64()} if self.part_checksums else {}
        etag = self.client.upload_part(Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                                       Body=body, **checksum)["ETag"]
        return {"PartNumber": number, "ETag": etag, **checksum}

    def _clean_up(self, full: str, upload_id: str | None, data_written: bool) -> None:
        """Best effort: the manifest was never written, so nothing is listed whatever happens here.
        An abort the store refuses now (connection cut) is retried from a thread for
        CLEAN_UP_RETRY_S, so an unfinished upload does not keep its parts (and their cost)."""
        try:
            self._abort(full, upload_id, data_written)
        except _BACKEND_ERRORS as exc:
            log.warning("could not clean up the failed upload of %s in %s (upload %s): %s; retrying",
                        full, self.describe(), upload_id, exc)
            threading.Thread(target=self._retry_clean_up, args=(full, upload_id, data_written),
                             name="s3-clean-up", daemon=True).start()

    def _abort(self, full: str, upload_id: str | None, data_written: bool) -> None:
        if upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        if data_written:
            self.client.delete_object(Bucket=self.bucket, Key=full)

    def _retry_clean_up(self, full: str, upload_id: str | None, data_written: bool) -> None:
        deadline = time.monotonic() + CLEAN_UP_RETRY_S
        while time.monotonic() < deadline:
            time.sleep(CLEAN_UP_INTERVAL_S)
            try:
                self._abort(full, upload_id, data_written)
                log.info("cleaned up the failed upload of %s in %s (upload %s)", full, self.describe(), upload_id)
                return
            except _BACKEND_ERRORS:
                continue
        log.warning("gave up cleaning up the failed upload of %s in %s (upload %s); deleting the key aborts it",
                    full, self.describe(), upload_id)

    def _abort_unfinished(self, full: str) -> None:
        """Abort every unfinished multipart upload of exactly this key (one an agent lost)."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full)
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Key"] == full:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload["UploadId"])

    def delete(self, key: str) -> None:
        full = self._full(key)
        try:
            # Manifest first: from then on the object is gone for every reader.
            self.client.delete_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX)
            self.client.delete_object(Bucket=self.bucket, Key=full)
            self._abort_unfinished(full)
        except _BACKEND_ERRORS as exc:
            raise self._fail("delete", key, exc) from exc

    def probe(self) -> None:
        """List one key under the prefix: the bucket exists and these credentials may read it."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except _BACKEND_ERRORS as exc:
            raise ObjectStoreError(f"{self.describe()} cannot be listed: {exc}") from exc

    # -- reading -----------------------------------------------------------------------------

    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        full = self._full(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                raise ObjectStoreError(f"no object {key!r} in {self.describe()}") from exc
            raise self._fail("download", key, exc) from exc
        except _BACKEND_ERRORS as exc:
            raise self._fail("download", key, exc) from exc
        return self._iter_body(key, body, chunk_size)

    def _iter_body(self, key: str, body, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(chunk_size)
        except (*_BACKEND_ERRORS, OSError) as exc:
            raise self._fail("download", key, exc) from exc
        finally:
            body.close()

    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            manifest = self.client.get_object(Bucket=self.bucket, Key=full + MANIFEST_SUFFIX)
            raw = manifest["Body"].read()
            data = self.client.head_object(Bucket=self.bucket, Key=full)
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                return None
            raise self._fail("head", key, exc) from exc
        except _BACKEND_ERRORS as exc:
            raise self._fail("head", key, exc) from exc
        info = parse_manifest(key, raw, data.get("LastModified"))
        if info.size != data["ContentLength"]:
            raise ObjectStoreError(f"object {key!r} in {self.describe()} holds {data['ContentLength']} bytes, "
                                   f"its manifest says {info.size}")
        return info

    def list(self, prefix: str) -> list[ObjectInfo]:
        full_prefix = self.prefix + prefix
        data: dict[str, dict] = {}
        manifests: set[str] = set()
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=full_prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix):]
                    if name.endswith(MANIFEST_SUFFIX):
                        manifests.add(name[:-len(MANIFEST_SUFFIX)])
                    else:
                        data[name] = item
            found = []
            for name in sorted(manifests & data.keys()):
                try:
                    raw = self.client.get_object(Bucket=self.bucket,
                                                 Key=self.prefix + name + MANIFEST_SUFFIX)["Body"].read()
                except botocore.exceptions.ClientError as exc:
                    if _missing(exc):
                        continue  # deleted since the listing
                    raise
                found.append(parse_manifest(name, raw, data[name]["LastModified"]))
            return found
        except botocore.exceptions.ClientError as exc:
            raise self._fail("listing", prefix, exc) from exc
        except _BACKEND_ERRORS as exc:
            raise self._fail("listing", prefix, exc) from exc
