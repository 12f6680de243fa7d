"""What the CLI prints: response messages as aws-cli shows ElastiCache's, in json, text or table.

Names: proto fields are snake_case, aws spells them PascalCase (`cache_cluster_id` →
`CacheClusterId`, with the acronyms aws keeps upper-case, `az_mode` → `AZMode`).
Values: ints stay ints (protobuf's JSON mapping writes int64 as strings; aws does not),
timestamps are ISO 8601 with an offset as botocore prints them. Fields left at their
default are shown where aws shows them: numbers and booleans always, strings only when
set, nested lists only when non-empty (a response's own lists always: `"CacheClusters": []`).
"""
from __future__ import annotations

import base64
import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# Words aws keeps upper-case inside PascalCase names.
ACRONYMS = {"az": "AZ", "ec2": "EC2"}


def pascal(snake: str) -> str:
    """cache_cluster_id → CacheClusterId."""
    return "".join(ACRONYMS.get(part, part[:1].upper() + part[1:]) for part in snake.split("_"))


def kebab(name: str) -> str:
    """CreateCacheCluster → create-cache-cluster; cache_node_ids → cache-node-ids."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()


# --- proto → aws-shaped dict ---

_NUMBER_OR_BOOL = {
    FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64, FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE,
    FieldDescriptor.CPPTYPE_BOOL,
}


def to_aws(message: Message, top_level: bool = True) -> dict[str, Any]:
    """A response message as aws-cli would print it (see the module docstring for the rules)."""
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        key = pascal(fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            if value or top_level:
                value_fd = fd.message_type.fields_by_name["value"]
                out[key] = {str(k): _value(value_fd, v) for k, v in value.items()}
        elif fd.is_repeated:
            if value or top_level:
                out[key] = [_value(fd, item) for item in value]
        elif fd.message_type is not None or fd.has_presence:
            if message.HasField(fd.name):
                out[key] = _value(fd, value)
        elif fd.cpp_type in _NUMBER_OR_BOOL:
            out[key] = _value(fd, value)
        elif value:  # strings, bytes and enums: shown when set
            out[key] = _value(fd, value)
    return out


def _value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.message_type is not None:
        if fd.message_type.full_name == "google.protobuf.Timestamp":
            return value.ToDatetime(tzinfo=datetime.UTC).isoformat()
        if fd.message_type.full_name.startswith("google.protobuf."):
            return json_format.MessageToDict(value)
        return to_aws(value, top_level=False)
    if fd.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        number = fd.enum_type.values_by_number.get(value)
        return number.name if number is not None else value
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


# --- renderers ---

def render(data: Any, fmt: str, title: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=4) + "\n"
    if fmt == "text":
        return render_text(data)
    if fmt == "table":
        return render_table(title, data)
    raise ValueError(f"unknown output format {fmt}")


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _cell(value: Any) -> str:
    return "None" if value is None else str(value)


def render_text(data: Any) -> str:
    """aws-cli's text output: one tab-separated line per object, its scalars in key order,
    prefixed with the upper-cased name of the list or structure it sits in."""
    lines: list[str] = []

    def walk(value: Any, ident: str | None) -> None:
        prefix = [ident] if ident else []
        if isinstance(value, dict):
            scalars = sorted(k for k, v in value.items() if _scalar(v))
            if scalars:
                lines.append("\t".join(prefix + [_cell(value[k]) for k in scalars]))
            for key in sorted(k for k, v in value.items() if not _scalar(v)):
                walk(value[key], key.upper())
        elif isinstance(value, list):
            if all(_scalar(item) for item in value):
                if value:
                    lines.append("\t".join(prefix + [_cell(item) for item in value]))
            else:
                for item in value:
                    walk(item, ident)
        else:
            lines.append("\t".join(prefix + [_cell(value)]))

    walk(data, None)
    return "".join(line + "\n" for line in lines)


@dataclass
class _Section:
    title: str
    indent: int
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def natural_widths(self) -> list[int]:
        columns = max([len(self.headers)] + [len(row) for row in self.rows] + [0])
        widths = [0] * columns
        for row in [self.headers] + self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell) + 4)
        return widths

    def needed_width(self) -> int:
        widths = self.natural_widths()
        columns = sum(widths) + len(widths) + 1 if widths else 0
        return max(columns, len(self.title) + 4) + 2 * self.indent


def _sections(title: str | None, value: Any, indent: int, out: list[_Section]) -> None:
    """aws-cli's table layout: a structure's scalars are one row under their keys, a list
    of structures is one row per item under the union of their keys, and anything nested
    is a section of its own, one level further in."""
    if value in (None, {}, []):
        return
    if title is not None or not out:
        out.append(_Section(title or "", indent))
    section = out[-1]
    if isinstance(value, dict):
        headers = sorted(k for k, v in value.items() if _scalar(v))
        if len(headers) == 1:
            section.rows.append([headers[0], _cell(value[headers[0]])])
        elif headers:
            section.headers = headers
            section.rows.append([_cell(value[k]) for k in headers])
        for key in sorted(k for k, v in value.items() if not _scalar(v)):
            _sections(key, value[key], indent + 1, out)
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        headers = sorted({k for item in value for k, v in item.items() if _scalar(v)})
        nested = sorted({k for item in value for k, v in item.items() if not _scalar(v)})
        for n, item in enumerate(value):
            if n and nested:
                section = _Section(title or "", indent)
                out.append(section)
            section.headers = headers
            section.rows.append([_cell(item.get(k, "")) for k in headers])
            for key in nested:
                if key in item:
                    _sections(key, item[key], indent + 1, out)
    elif isinstance(value, list):
        for item in value:
            section.rows.append([_cell(i) for i in item] if isinstance(item, list) else [_cell(item)])
    else:
        section.rows.append([_cell(value)])


def _fit(widths: list[int], inner: int) -> list[int]:
    """Stretch natural column widths so that the columns fill the section's inner width."""
    if not widths:
        return widths
    extra = inner - (sum(widths) + len(widths) - 1)
    share, rest = divmod(max(extra, 0), len(widths))
    fitted = [w + share for w in widths]
    fitted[-1] += rest
    return fitted


def render_table(title: str, data: Any) -> str:
    sections: list[_Section] = []
    _sections(title, data, 0, sections)
    if not sections:
        return ""
    width = max(s.needed_width() for s in sections)
    lines = ["-" * width]
    for s in sections:
        border = "|" * s.indent
        inner = width - 2 * s.indent - 2
        widths = _fit(s.natural_widths(), inner)

        def line(text: str, border: str = border) -> str:
            return border + text + border

        def separator() -> str:
            joints = "+".join("-" * w for w in widths) if widths else "-" * inner
            return line("+" + joints + "+")

        def row(cells: Iterable[str], center: bool = False) -> str:
            padded = [(c.center(w) if center else ("  " + c).ljust(w))
                      for c, w in zip(list(cells) + [""] * len(widths), widths)]
            return line("|" + "|".join(padded) + "|")

        lines.append(line("|" + s.title.center(inner) + "|"))
        lines.append(separator())
        if s.headers:
            lines.append(row(s.headers, center=True))
            lines.append(separator())
        if s.rows:
            lines.extend(row(r) for r in s.rows)
            lines.append(separator())
    return "".join(line + "\n" for line in lines)
