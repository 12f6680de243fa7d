"""Between the model's shapes and CacheControl's messages: a parsed request into the request
message the servicer takes (the answer's way back to XML is xmlplan's).

The proto's field names are the model's member names in snake_case (botocore's own
`xform_name`); the few the proto spells otherwise are in NAMES. A proto field the model does
not have (host_id, port) is cachefleet's and is left out of the XML; a model member the proto
does not have is one cachefleet does not implement: refused in a request, absent in an answer.
"""
from __future__ import annotations

from typing import Any

from botocore import xform_name
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from coordinator.queryapi.errors import invalid

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
