"""The coordinator's state store: a small interface and its backends."""
from .base import Record, Store, StoreError
from .sqlite import SqliteStore

__all__ = ["Record", "Store", "StoreError", "SqliteStore"]
