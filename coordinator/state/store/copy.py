"""Copy a fleet's whole state from one store to another (SQLite to etcd when a fleet grows to
several coordinators, or back).

Run with every coordinator of the fleet stopped: the copy is a consistent read of the source
(one query, or etcd pages at one revision) written in batches, so writes made meanwhile would be
missed. Revisions are not carried over (each store numbers its own writes); nothing in a record
refers to another's revision, so nothing needs them.
"""
from __future__ import annotations

from coordinator.state.store.base import Store, StoreError

# etcd takes at most 128 operations in one transaction (its --max-txn-ops default)
BATCH = 100


class NotEmpty(StoreError):
    """The destination holds keys already, and --force was not given."""


async def copy_state(source: Store, destination: Store, *, force: bool = False) -> int:
    """Copy every key of source into destination; with force, make destination hold exactly
    source's keys (replacing and deleting what it had). Returns how many keys were copied."""
    records = await source.list("")
    existing = await destination.list("")
    if existing and not force:
        raise NotEmpty(f"the destination holds {len(existing)} keys already: give --force to replace them "
                       "(every key not in the source is deleted)")
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        if not await destination.transact([(record.key, record.value, None) for record in batch]):
            raise StoreError("the destination refused an unconditional write")   # no compare: never expected
    keep = {record.key for record in records}
    stale = [record.key for record in existing if record.key not in keep]
    for start in range(0, len(stale), BATCH):
        await destination.transact([], [(key, None) for key in stale[start:start + BATCH]])
    return len(records)
