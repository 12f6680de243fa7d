"""ElastiCache's paging, shared by every Describe call: MaxRecords and an opaque Marker."""
from __future__ import annotations

from typing import TypeVar

from coordinator.domain.errors import invalid

T = TypeVar("T")


def paginate(items: list[T], max_records: int, marker: str) -> tuple[list[T], str]:
    """ElastiCache paging: MaxRecords 20-100 (default 100), Marker = opaque offset."""
    if max_records and not 20 <= max_records <= 100:
        raise invalid(f"MaxRecords must be between 20 and 100, got {max_records}.")
    size = max_records or 100
    try:
        start = int(marker) if marker else 0
    except ValueError:
        raise invalid(f"Invalid Marker {marker!r}.") from None
    chunk = items[start:start + size]
    return chunk, (str(start + size) if start + size < len(items) else "")

