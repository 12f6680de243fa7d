"""Which automatic snapshots retention removes: a decision of the records and the clock alone.

Only automatic snapshots are ever pruned. Manual ones, final ones (taken before a deletion)
and copies are the user's: they stay until the user deletes them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from coordinator.snapshots import windows
from coordinator.snapshots.model import Snapshot, SnapshotStatus

PRUNABLE = (SnapshotStatus.AVAILABLE, SnapshotStatus.FAILED)


@dataclass(frozen=True)
class Prune:
    """Mark the snapshot `deleting`; the runner then removes its objects and its record."""
    name: str
    reason: str

    @property
    def sentence(self) -> str:
        return f"pruning {self.name}"


def prunable(snapshot: Snapshot) -> bool:
    """An automatic snapshot that is finished (available or failed): one retention may remove."""
    return snapshot.source == "automated" and not snapshot.final and not snapshot.copy_of \
        and snapshot.status in PRUNABLE


def decide_pruning(snapshots: Iterable[Snapshot], limits: Mapping[str, int], now: float) -> list[Prune]:
    """Automatic snapshots past their source's retention limit in days (`limits`: source
    cluster or group id -> SnapshotRetentionLimit), and all of them once the source is gone
    or its limit is 0."""
    pruned = []
    for snapshot in snapshots:
        if not prunable(snapshot):
            continue
        limit = limits.get(snapshot.group_source, 0)
        if not limit:
            pruned.append(Prune(snapshot.name, f"{snapshot.group_source} keeps no automatic snapshots"))
        elif windows.expired(snapshot.created, limit, now):
            pruned.append(Prune(snapshot.name, f"older than {snapshot.group_source}'s limit of {limit} days"))
    return pruned
