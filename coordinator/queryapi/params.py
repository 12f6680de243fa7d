"""The Query protocol's request parameters, read back into the structure botocore serialized.

botocore writes a structure member as `Prefix.Name`, a list as `Prefix.<member name>.N` (or
`Prefix.N` when the list is flattened; `Prefix=` when it is empty) and a map as
`Prefix.entry.N.key/value`, numbering from 1. Reading the same shape back gives the dict a
boto3 caller passed: lists must number 1..n without a hole, scalars must parse as their type.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from coordinator.queryapi.errors import QueryError, invalid

_MISSING = object()


class Reader:
    """The parameters of one request, and which of them the shape used."""

    def __init__(self, params: dict[str, str], not_required: frozenset[str] = frozenset()) -> None:
        self.params = params
        self.used: set[str] = set()
        self._not_required = not_required   # top-level members that another parameter stands in for

    def structure(self, shape: Any, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = self.value(member, f"{prefix}.{key}" if prefix else key)
            if value is not _MISSING:
                out[name] = value
        for name in shape.required_members:
            if name not in out and not (not prefix and name in self._not_required):
                where = f"{prefix}.{name}" if prefix else name
                raise QueryError("MissingParameter", f"The request must contain the parameter {where}.")
        return out

    def value(self, shape: Any, key: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, key) if self._under(key) else _MISSING
        if kind == "list":
            return self._list(shape, key)
        if kind == "map":
            return self._map(shape, key)
        if key not in self.params:
            return _MISSING
        self.used.add(key)
        return scalar(shape, key, self.params[key])

    def _under(self, key: str) -> bool:
        dotted = key + "."
        return any(k.startswith(dotted) for k in self.params)

    def _numbered(self, prefix: str, what: str) -> list[int]:
        """The N of every `prefix.N...` parameter, checked to run 1..n."""
        dotted = prefix + "."
        numbers = set()
        for k in self.params:
            if k.startswith(dotted):
                head = k[len(dotted):].split(".", 1)[0]
                if not head.isdigit() or head.startswith("0"):
                    raise invalid(f"{k} is not a member of the list {what}: members are numbered from 1.")
                numbers.add(int(head))
        expected = set(range(1, len(numbers) + 1))
        if numbers != expected:
            hole = min(expected - numbers)
            raise invalid(f"The list {what} has no member {hole}: members are numbered 1, 2, ... without a gap.")
        return sorted(numbers)

    def _list(self, shape: Any, key: str) -> Any:
        if self.params.get(key) == "":
            self.used.add(key)
            return []
        member = shape.member
        if shape.serialization.get("flattened"):
            name = member.serialization.get("name")
            prefix = ".".join(key.split(".")[:-1] + [name]) if name else key
        else:
            prefix = f"{key}.{member.serialization.get('name', 'member')}"
        numbers = self._numbered(prefix, key)
        if not numbers:
            return _MISSING
        items = [self.value(member, f"{prefix}.{n}") for n in numbers]
        if any(item is _MISSING for item in items):
            raise invalid(f"A member of the list {key} is empty.")
        return items

    def _map(self, shape: Any, key: str) -> Any:
        prefix = key if shape.serialization.get("flattened") else f"{key}.entry"
        numbers = self._numbered(prefix, key)
        if not numbers:
            return _MISSING
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out = {}
        for n in numbers:
            k = self.value(shape.key, f"{prefix}.{n}.{key_name}")
            v = self.value(shape.value, f"{prefix}.{n}.{value_name}")
            if k is _MISSING or v is _MISSING:
                raise invalid(f"Entry {n} of the map {key} needs a key and a value.")
            out[k] = v
        return out


def scalar(shape: Any, key: str, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "timestamp":
            return timestamp(text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise invalid(f"Value {text!r} for parameter {key} is not a valid {kind}.") from None
    return text


def timestamp(text: str) -> dt.datetime:
    """ISO 8601 (botocore's query format) or seconds since the epoch; naive means UTC."""
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        pass
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
