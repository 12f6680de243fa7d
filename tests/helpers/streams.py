"""Object bodies for object-store tests, generated on the fly (never held whole)."""
from __future__ import annotations

import hashlib

MIB = 1 << 20


def chunks_of(total: int, chunk: int = 256 * 1024, seed: int = 1):
    """Deterministic, non-repeating-looking bytes generated on the fly (never the whole object)."""
    block = hashlib.sha256(str(seed).encode()).digest() * (chunk // 32)
    sent = 0
    n = 0
    while sent < total:
        size = min(chunk, total - sent)
        piece = hashlib.sha256(n.to_bytes(8, "big")).digest() + block[32:size]
        yield piece[:size]
        sent += size
        n += 1


def sha_of(chunks) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class Boom(RuntimeError):
    pass


def failing_after(total_before_failure: int):
    yield from chunks_of(total_before_failure)
    raise Boom("source died midway")
