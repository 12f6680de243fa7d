"""Between the model's shapes and CacheControl's messages: a parsed request into the request
message the servicer takes, and the servicer's answer into the XML the model's output shape
describes.

The proto's field names are the model's member names in snake_case (botocore's own
`xform_name`); the few the proto spells otherwise are in NAMES. A proto field the model does
not have (host_id, port) is cachefleet's and is left out of the XML; a model member the proto
does not have is one cachefleet does not implement: refused in a request, absent in an answer.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from botocore import xform_name
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from coordinator.queryapi.errors import invalid
from coordinator.queryapi.params import timestamp

# model member -> proto field, where xform_name would guess otherwise
NAMES = {"PreferredCacheClusterAZs": "preferred_cache_cluster_a_zs"}
TIMESTAMP = "google.protobuf.Timestamp"


def field_name(member: str) -> str:
    return NAMES.get(member) or xform_name(member)


# -- requests --------------------------------------------------------------------------------

def fill(message: Message, values: dict[str, Any], where: str = "") -> None:
    """Set message's fields from a dict parsed by the model's input shape."""
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields.get(field_name(name))
        if field is None:
            raise invalid(f"cachefleet does not support the parameter {where}{name}.")
        target = getattr(message, field.name)
        if field.is_repeated:
            for item in value:
                if field.message_type is not None:
                    fill(target.add(), item, f"{where}{name}.")
                else:
                    target.append(_scalar(field, item, name))
        elif field.message_type is not None and field.message_type.full_name == TIMESTAMP:
            target.FromDatetime(value)
        elif field.message_type is not None:
            fill(target, value, f"{where}{name}.")
        else:
            setattr(message, field.name, _scalar(field, value, name))


def fill_extensions(message: Message, extra: dict[str, str]) -> None:
    """Parameters the model does not have that name a scalar field of cachefleet's request
    (CidrIp of AuthorizeCacheSecurityGroupIngress, TransitEncryptionMode, ...); anything else
    is refused."""
    fields = message.DESCRIPTOR.fields_by_name
    for key, text in extra.items():
        field = fields.get(field_name(key)) if "." not in key else None
        if field is None or field.is_repeated or field.message_type is not None:
            raise invalid(f"The parameter {key} is not a parameter of {message.DESCRIPTOR.name[:-len('Request')]}.")
        setattr(message, field.name, _text_scalar(field, key, text))


def _scalar(field: FieldDescriptor, value: Any, name: str) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return value if isinstance(value, str) else str(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool(value)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Value {value!r} for parameter {name} is not a valid integer.")
    if field.type == FieldDescriptor.TYPE_INT32 and not -2**31 <= value < 2**31:
        raise invalid(f"Value {value} for parameter {name} is out of range.")
    return value


def _text_scalar(field: FieldDescriptor, key: str, text: str) -> Any:
    try:
        if field.type == FieldDescriptor.TYPE_BOOL:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return float(text)
        if field.type == FieldDescriptor.TYPE_STRING:
            return text
        return _scalar(field, int(text), key)
    except ValueError:
        raise invalid(f"Value {text!r} for parameter {key} is not valid.") from None


# -- answers ---------------------------------------------------------------------------------

def iso8601(when: dt.datetime) -> str:
    """UTC with microseconds (AWS writes milliseconds; every ISO 8601 reader takes both), so a
    time reads the same through the Query API as through gRPC."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Writer = Callable[[list[str], Message], None]


def write(out: list[str], message: Message, shape: Any, top: bool = False) -> None:
    """Append the XML of message's fields, as shape's members (a structure shape's content)."""
    _plan(shape, message.DESCRIPTOR, top)(out, message)


@functools.cache
def _plan_cached(shape_key: tuple[str, str, bool], shape: Any, descriptor: Descriptor) -> Writer:
    top = shape_key[2]
    steps: list[Writer] = []
    fields = descriptor.fields_by_name
    for name, member in shape.members.items():
        field = fields.get(field_name(name))
        if field is not None:
            steps.append(_member(member.serialization.get("name", name), member, field, top))

    def run(out: list[str], message: Message) -> None:
        for step in steps:
            step(out, message)
    return run


def _plan(shape: Any, descriptor: Descriptor, top: bool) -> Writer:
    return _plan_cached((shape.name, descriptor.full_name, top), _Hashable(shape), descriptor)


class _Hashable:
    """A shape carried through functools.cache, compared by name (names are unique in a model)."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def __hash__(self) -> int:
        return hash(self.shape.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hashable) and other.shape.name == self.shape.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shape, name)


def _member(tag: str, shape: Any, field: FieldDescriptor, top: bool) -> Writer:
    name = field.name
    if field.is_repeated:
        item_shape = shape.member
        flattened = bool(shape.serialization.get("flattened"))
        item_tag = item_shape.serialization.get("name", tag if flattened else "member")
        item = _value_writer(item_tag, item_shape, field)

        def write_list(out: list[str], message: Message) -> None:
            values = getattr(message, name)
            if not values and not top:
                return
            if not flattened:
                out.append(f"<{tag}>")
            for value in values:
                item(out, value)
            if not flattened:
                out.append(f"</{tag}>")
        return write_list
    value_writer = _value_writer(tag, shape, field)
    if field.message_type is not None or field.has_presence:
        def write_present(out: list[str], message: Message) -> None:
            if message.HasField(name):
                value_writer(out, getattr(message, name))
        return write_present
    if field.type == FieldDescriptor.TYPE_STRING:
        def write_text(out: list[str], message: Message) -> None:
            value = getattr(message, name)
            if value:
                value_writer(out, value)
        return write_text
    return lambda out, message: value_writer(out, getattr(message, name))


def _value_writer(tag: str, shape: Any, field: FieldDescriptor) -> Callable[[list[str], Any], None]:
    """How one value (a list item or a singular field's value) is written."""
    if field.message_type is not None and field.message_type.full_name == TIMESTAMP:
        return lambda out, value: out.append(f"<{tag}>{iso8601(value.ToDatetime(dt.UTC))}</{tag}>")
    if field.message_type is not None:
        def write_structure(out: list[str], value: Message) -> None:
            out.append(f"<{tag}>")
            write(out, value, shape)
            out.append(f"</{tag}>")
        return write_structure
    if field.type == FieldDescriptor.TYPE_BOOL:
        return lambda out, value: out.append(f"<{tag}>{'true' if value else 'false'}</{tag}>")
    if field.type == FieldDescriptor.TYPE_STRING and shape.type_name == "timestamp":
        return lambda out, value: out.append(f"<{tag}>{iso8601(timestamp(value))}</{tag}>")
    return lambda out, value: out.append(f"<{tag}>{escape(str(value))}</{tag}>")
