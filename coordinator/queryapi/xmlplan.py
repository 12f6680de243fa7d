"""An answer's XML, written by a plan compiled once per output shape rather than by walking the
model for every request.

Walking botocore's shapes for each message costs more than the servicer call it follows (a page
of 100 clusters is some 2,500 elements): the model, the proto descriptor and the pairing of the
two are the same for every request of an operation, so that pairing is turned once into a
Python function per (shape, message type) that only reads fields and appends text. The
functions are generated source (compiled with `compile`), in which only tags from the model and
field names from the proto appear, each checked to be a plain name before it is used.

What is written: a model member whose proto field exists (cachefleet's own fields, HostId or a
cluster's Port, are gRPC's only); a list always at the top of a result (an empty page is
`<CacheClusters></CacheClusters>`) and only when not empty below it; a message or an optional
field only when set; a string only when not empty; numbers and booleans always.
"""
from __future__ import annotations

import datetime as dt
import keyword
import re
import time
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from coordinator.queryapi.messages import TIMESTAMP, field_name
from coordinator.queryapi.params import timestamp

Writer = Callable[[list[str], Message], None]

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
WORD = re.compile(r"\W")
DAY_TIME = "%Y-%m-%dT%H:%M:%S"


def iso8601(when: dt.datetime) -> str:
    """UTC with microseconds (AWS writes milliseconds; every ISO 8601 reader takes both), so a
    time reads the same through the Query API as through gRPC."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text_stamp(value: str) -> str:
    """A time the proto carries as text (ISO 8601 or epoch seconds), as iso8601 writes it."""
    return iso8601(timestamp(value))


def writer(shape: Any, descriptor: Descriptor, top: bool = False) -> Writer:
    """The compiled writer of message's fields as shape's members (a structure's content)."""
    return _COMPILER.structure(shape, descriptor, top)


class _Compiler:
    """Generated writers by (shape name, message type, top): names are unique in a model, and a
    shape met again (a recursive one, or a second operation's) is compiled once."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"escape": escape, "text_stamp": text_stamp, "DAY_TIME": DAY_TIME,
                                          "gmtime": time.gmtime, "strftime": time.strftime}
        self.names: dict[tuple[str, str, bool], str] = {}

    def structure(self, shape: Any, descriptor: Descriptor, top: bool) -> Writer:
        name = self._compile(shape, descriptor, top)
        compiled: Writer = self.namespace[name]
        return compiled

    def _compile(self, shape: Any, descriptor: Descriptor, top: bool) -> str:
        key = (shape.name, descriptor.full_name, top)
        if key in self.names:
            return self.names[key]
        name = f"write_{len(self.names)}_{WORD.sub('_', shape.name)}"
        self.names[key] = name      # before the members: a shape that contains itself calls its own writer
        lines = [f"def {name}(out, m):", "    a = out.append"]
        fields = descriptor.fields_by_name
        for member_name, member in shape.members.items():
            field = fields.get(field_name(member_name))
            if field is not None:
                tag = _plain(member.serialization.get("name", member_name))
                lines += _indent(self._member(tag, member, field, top), 4)
        source = "\n".join(lines) + "\n"
        exec(compile(source, f"<xmlplan {shape.name}>", "exec"), self.namespace)   # source made above, of checked names
        return name

    def _member(self, tag: str, shape: Any, field: FieldDescriptor, top: bool) -> list[str]:
        """Lines that write one member of message `m`."""
        attr = _attribute(field.name)
        if field.is_repeated:
            flattened = bool(shape.serialization.get("flattened"))
            item_tag = _plain(shape.member.serialization.get("name", tag if flattened else "member"))
            body = [f"for v in {attr}:"] + _indent(self._value(item_tag, shape.member, field), 4)
            if not flattened:
                body = [f"a({f'<{tag}>'!r})"] + body + [f"a({f'</{tag}>'!r})"]
            return body if top else [f"if {attr}:"] + _indent(body, 4)
        value = self._value(tag, shape, field)
        if field.message_type is not None or field.has_presence:
            return [f"if m.HasField({field.name!r}):", f"    v = {attr}"] + _indent(value, 4)
        if field.type == FieldDescriptor.TYPE_STRING:
            return [f"v = {attr}", "if v:"] + _indent(value, 4)
        return [f"v = {attr}"] + value

    def _value(self, tag: str, shape: Any, field: FieldDescriptor) -> list[str]:
        """Lines (at no indent) that append the element for one value `v`: f-strings, and a
        string escaped only when it has something to escape (most have not, and the check is
        cheaper than the call)."""
        def element(text: str) -> str:
            return f"a(f{f'<{tag}>{text}</{tag}>'!r})"
        if field.message_type is not None and field.message_type.full_name == TIMESTAMP:
            return [element("{strftime(DAY_TIME, gmtime(v.seconds))}.{v.nanos // 1000:06d}Z")]
        if field.message_type is not None:
            child = self._compile(shape, field.message_type, False)
            return [f"a({f'<{tag}>'!r})", f"{child}(out, v)", f"a({f'</{tag}>'!r})"]
        if field.type == FieldDescriptor.TYPE_BOOL:
            return [f"a({f'<{tag}>true</{tag}>'!r} if v else {f'<{tag}>false</{tag}>'!r})"]
        if field.type == FieldDescriptor.TYPE_STRING and shape.type_name == "timestamp":
            return [element("{text_stamp(v)}")]
        if field.type == FieldDescriptor.TYPE_STRING:
            return ["if '&' in v or '<' in v or '>' in v:", "    v = escape(v)", element("{v}")]
        return [element("{v}")]

def _plain(name: str) -> str:
    """A tag or field name as it may appear in generated source: nothing but a name."""
    if not PLAIN.fullmatch(name):
        raise ValueError(f"not a plain name: {name!r}")
    return name


def _attribute(field: str) -> str:
    """How generated source reads a field of `m` (a Python keyword cannot follow a dot)."""
    return f"getattr(m, {field!r})" if keyword.iskeyword(_plain(field)) else f"m.{field}"


def _indent(lines: list[str], by: int) -> list[str]:
    return [" " * by + line for line in lines]


_COMPILER = _Compiler()
