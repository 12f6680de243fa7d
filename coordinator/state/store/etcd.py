"""etcd v3 backend of the store: the state several coordinators share, one of them leading.

A record's revision is etcd's mod_revision of its key (the store revision of its last write, so
one transaction's writes share one revision, as in SQLite). An absent key compares as
mod_revision 0, which is ABSENT: put-if-absent is a compare on mod_revision == 0. Every write is
one Txn whose compares are the caller's expected revisions, plus, when the store is guarded
(`guarded`), the leader's own key: a leader deposed since it last looked writes nothing, and is
told so apart from an ordinary lost compare-and-set. A listing is read in pages at the revision
of its first page, so its pages agree with each other. Keys live under a prefix (a fleet's
namespace); values are JSON.
"""
from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachefleet.etcd import kv_pb2, rpc_pb2
from coordinator.state.store.base import Record, Store, StoreError, counted_write
from coordinator.state.store.etcdclient import EtcdClient

DEFAULT_PREFIX = "/cachefleet/"
PAGE_SIZE = 500
_Compare = rpc_pb2.Compare


@dataclass(frozen=True)
class Guard:
    """Writes land only while `key` is the one created at `create_revision` (etcd's election
    key of the leader that holds it)."""
    key: bytes
    create_revision: int


class NotLeader(StoreError):
    """The write was refused because the writer no longer holds its leadership key."""


def prefix_end(prefix: bytes) -> bytes:
    """The first key past every key that starts with prefix (etcd's range end for a prefix)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"    # every key
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


class EtcdStore(Store):
    def __init__(self, client: EtcdClient, *, prefix: str = DEFAULT_PREFIX, guard: Guard | None = None,
                 page_size: int = PAGE_SIZE, owns_client: bool = True) -> None:
        self.client = client
        self.prefix = prefix
        self.guard = guard
        self.page_size = page_size
        self._owns_client = owns_client

    def guarded(self, guard: Guard) -> EtcdStore:
        """The same store, every write of which also needs guard to hold (the leader's view)."""
        return EtcdStore(self.client, prefix=self.prefix, guard=guard, page_size=self.page_size, owns_client=False)

    def _key(self, key: str) -> bytes:
        return (self.prefix + key).encode()

    def _record(self, kv: kv_pb2.KeyValue) -> Record:
        key = kv.key.decode()
        try:
            value = json.loads(kv.value)
        except ValueError as exc:
            raise StoreError(f"etcd: {key} does not hold JSON: {exc}") from None
        return Record(key[len(self.prefix):], value, kv.mod_revision)

    async def get(self, key: str) -> Record | None:
        response = await self.client.call("KV", "Range", rpc_pb2.RangeRequest(key=self._key(key)), read=True)
        return self._record(response.kvs[0]) if response.kvs else None

    async def list(self, prefix: str) -> list[Record]:
        start = self._key(prefix)
        return await self._range(start, prefix_end(start))

    async def list_range(self, start: str, end: str, limit: int = 0) -> builtins.list[Record]:
        if end <= start:
            return []
        return await self._range(self._key(start), self._key(end), limit)

    async def _range(self, start: bytes, end: bytes, limit: int = 0) -> builtins.list[Record]:
        records: builtins.list[Record] = []
        revision = 0
        while True:
            page = min(self.page_size, limit - len(records)) if limit else self.page_size
            response = await self.client.call("KV", "Range", rpc_pb2.RangeRequest(
                key=start, range_end=end, limit=page, revision=revision), read=True)
            records.extend(self._record(kv) for kv in response.kvs)
            if not response.more or not response.kvs or (limit and len(records) >= limit):
                return records
            revision = revision or response.header.revision
            start = response.kvs[-1].key + b"\0"

    async def revisions(self, prefix: str) -> builtins.list[tuple[str, int]]:
        start = self._key(prefix)
        end, revision = prefix_end(start), 0
        found: builtins.list[tuple[str, int]] = []
        while True:   # pages at one revision, as _range reads them
            response = await self.client.call("KV", "Range", rpc_pb2.RangeRequest(
                key=start, range_end=end, limit=self.page_size, revision=revision, keys_only=True), read=True)
            found.extend((kv.key.decode()[len(self.prefix):], kv.mod_revision) for kv in response.kvs)
            if not response.more or not response.kvs:
                return found
            revision = revision or response.header.revision
            start = response.kvs[-1].key + b"\0"

    def _compare(self, key: str, expected_revision: int) -> rpc_pb2.Compare:
        return _Compare(result=_Compare.EQUAL, target=_Compare.MOD, key=self._key(key), mod_revision=expected_revision)

    async def _write(self, compares: builtins.list[rpc_pb2.Compare],
                     ops: builtins.list[rpc_pb2.RequestOp]) -> rpc_pb2.TxnResponse | None:
        """One Txn: ops if every compare holds; None if one did not. NotLeader when the guard
        no longer holds, whatever the other compares said."""
        request = rpc_pb2.TxnRequest(compare=compares, success=ops)
        if self.guard is not None:
            request.compare.append(_Compare(result=_Compare.EQUAL, target=_Compare.CREATE, key=self.guard.key,
                                            create_revision=self.guard.create_revision))
            request.failure.append(rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self.guard.key)))
        response = await self.client.txn(request)
        if response.succeeded:
            return response
        if self.guard is not None:
            held = response.responses[0].response_range.kvs
            if not held or held[0].create_revision != self.guard.create_revision:
                raise NotLeader(f"not the leader any more: {self.guard.key.decode()} is "
                                f"{'gone' if not held else 'held by another'}; the write was not applied")
        return None

    @counted_write
    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None = None) -> int | None:
        compares = [] if expected_revision is None else [self._compare(key, expected_revision)]
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self._key(key), value=_encode(value)))
        response = await self._write(compares, [put])
        return None if response is None else response.header.revision

    @counted_write
    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        compares = [] if expected_revision is None else [self._compare(key, expected_revision)]
        delete = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=self._key(key)))
        response = await self._write(compares, [delete])
        return response is not None and response.responses[0].response_delete_range.deleted == 1

    @counted_write
    async def transact(self, puts: Sequence[tuple[str, dict[str, Any], int | None]],
                       deletes: Sequence[tuple[str, int | None]] = ()) -> bool:
        checks = [(key, revision) for key, _, revision in puts] + list(deletes)
        compares = [self._compare(key, revision) for key, revision in checks if revision is not None]
        # etcd refuses a Txn that writes one key twice: keep what SQLite would leave, the last
        # put of a key, and no put at all of a key the transaction also deletes
        deleted = {key for key, _ in deletes}
        last = {key: value for key, value, _ in puts if key not in deleted}
        ops = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self._key(key), value=_encode(value)))
               for key, value in last.items()]
        ops += [rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=self._key(key)))
                for key in dict.fromkeys(key for key, _ in deletes)]
        return await self._write(compares, ops) is not None

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()
