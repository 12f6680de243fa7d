"""ElastiCache's paging, shared by every Describe call: MaxRecords and an opaque Marker."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from coordinator.domain.errors import invalid

T = TypeVar("T")
_ID_MARKER = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def _size(max_records: int) -> int:
    if max_records and not 20 <= max_records <= 100:
        raise invalid(f"MaxRecords must be between 20 and 100, got {max_records}.")
    return max_records or 100


def paginate(items: list[T], max_records: int, marker: str) -> tuple[list[T], str]:
    """ElastiCache paging: MaxRecords 20-100 (default 100), Marker = opaque offset."""
    size = _size(max_records)
    try:
        start = int(marker) if marker else 0
    except ValueError:
        raise invalid(f"Invalid Marker {marker!r}.") from None
    chunk = items[start:start + size]
    return chunk, (str(start + size) if start + size < len(items) else "")


async def page_by_id(read: Callable[[str, int], Awaitable[tuple[list[T], bool]]], ident: Callable[[T], str],
                     max_records: int, marker: str) -> tuple[list[T], str]:
    """ElastiCache paging over records kept in id order (Repository.page): the Marker is the
    last id of the page before, so a page costs a read of that page, not of every record."""
    size = _size(max_records)
    if marker and not _ID_MARKER.fullmatch(marker):
        raise invalid(f"Invalid Marker {marker!r}.")
    items, more = await read(marker, size)
    return items, (ident(items[-1]) if more and items else "")
