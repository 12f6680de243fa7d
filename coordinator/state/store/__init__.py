"""The coordinator's state store: a small interface and its backends."""
from coordinator.state.store.base import Record, Store, StoreError
from coordinator.state.store.sqlite import SqliteStore

__all__ = ["Record", "Store", "StoreError", "SqliteStore"]
