"""The auxiliary fields at the head of a redis RDB file: when it was made, by which redis.

redis writes `redis-ver`, `ctime` (the unix time of the fork that took the picture),
`used-mem`, `repl-id`, `repl-offset` and others as AUX records right after the
`REDIS0011` magic, before any key. Only that head is read (a few hundred bytes), so a
file of any size is judged at once; a file that is not an RDB, or is cut short, gives
what could be read.
"""
from __future__ import annotations

import pathlib
import struct

MAGIC = b"REDIS"
OP_AUX = 0xFA
HEAD_BYTES = 4096       # every AUX record of redis 6 and 7 fits several times over


class _Cut(Exception):
    """The head ended inside a record."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise _Cut
        chunk = self.data[self.at:self.at + count]
        self.at += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, int | None]:
        """(length, None), or (0, encoding) for a specially encoded string."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, None
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), None
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], None
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], None
        if kind == 3:
            return 0, first & 0x3F
        raise _Cut

    def string(self) -> str | None:
        """A string record; an integer-encoded one as its digits; None for a compressed one."""
        size, encoding = self.length()
        if encoding is None:
            return self.take(size).decode(errors="replace")
        if encoding in (0, 1, 2):
            width = 1 << encoding
            return str(int.from_bytes(self.take(width), "little", signed=True))
        if encoding == 3:       # LZF: compressed length, plain length, bytes
            compressed, _ = self.length()
            self.length()
            self.take(compressed)
            return None
        raise _Cut


def aux_fields(path: pathlib.Path) -> dict[str, str]:
    """The AUX fields of the RDB file at path ({} when it is none or cannot be read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return {}
    if not head.startswith(MAGIC):
        return {}
    reader, fields = _Reader(head), {}
    reader.take(len(MAGIC) + 4)         # the magic and the format version, 4 digits
    try:
        while reader.byte() == OP_AUX:
            name, value = reader.string(), reader.string()
            if name is not None and value is not None:
                fields[name] = value
    except _Cut:
        pass
    return fields


def created_unix_ms(path: pathlib.Path) -> int | None:
    """When the RDB file at path took its picture of the dataset (its `ctime`), in ms."""
    value = aux_fields(path).get("ctime", "")
    return int(value) * 1000 if value.lstrip("-").isdigit() else None
