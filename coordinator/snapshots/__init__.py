"""Backup and restore: RDB snapshots of redis clusters and groups in an object store.

model.py holds the records and their repository, windows.py the daily snapshot window and
retention arithmetic, storage.py where the objects live, runner.py the loop that takes,
copies, prunes and deletes them, restore.py what a new cluster warm-starts from.
"""
from coordinator.snapshots.model import NodeSnapshot, Snapshot, SnapshotRepo, SnapshotStatus
from coordinator.snapshots.runner import SnapshotRunner
from coordinator.snapshots.storage import SnapshotStorage

__all__ = ["NodeSnapshot", "Snapshot", "SnapshotRepo", "SnapshotRunner", "SnapshotStatus", "SnapshotStorage"]
