"""aws-cli's ways of writing a structured option value, turned into request messages.

    --opt Key=value,Other=a,b,c          shorthand: a structure; `a,b,c` is a list
    --opt Key=[a,b],Nested={K=v}         explicit lists and nested structures
    --opt A=1,B=2 A=3,B=4                a list of structures: one shorthand item a word
    --opt '[{"Key": "value"}]'           JSON, exactly as aws-cli takes it
    --opt file://path.json               the value read from a file

Parsing is in two steps, as in aws-cli: `parse_shorthand` is purely syntactic (it
returns dicts, lists and strings), then `to_field_value` walks the request's proto
descriptor to give each value its type (ints, bools, timestamps, one-element
lists) and to map `ParameterName` onto the field `parameter_name`. The result is a
dict that `google.protobuf.json_format.ParseDict` accepts.
"""
from __future__ import annotations

import datetime
import json
import pathlib
import string
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from coordinator.cli.output import pascal

TIMESTAMP = "google.protobuf.Timestamp"


class ParamError(ValueError):
    """A value given on the command line does not fit its option (a usage error)."""


# --- syntax ---

_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-.#/:")
_SPECIAL = frozenset(",=[]{}")


class ShorthandParser:
    """parameter = keyval *("," keyval); keyval = key "=" [csv-list | "[" list "]" | "{" hash "}"]."""

    def parse(self, text: str) -> dict[str, Any]:
        self._text, self._pos = text, 0
        params = self._keyval()
        while not self._eof():
            self._expect(",")
            params.update(self._keyval())
        return params

    # grammar

    def _keyval(self, top: bool = True) -> dict[str, Any]:
        key = self._key()
        self._expect("=")
        return {key: self._value(top)}

    def _key(self) -> str:
        self._skip_space()
        start = self._pos
        while not self._eof() and self._text[self._pos] in _KEY_CHARS:
            self._pos += 1
        if start == self._pos:
            self._fail("a key")
        return self._text[start:self._pos]

    def _value(self, top: bool) -> Any:
        """After `Key=` (top) or inside [...] / {...}: a list, a structure, or a scalar."""
        self._skip_space()
        if self._peek() == "[":
            return self._items("[", "]", lambda: self._value(top=False), [])
        if self._peek() == "{":
            return self._items("{", "}", lambda: self._keyval(top=False), {})
        return self._csv() if top else self._scalar()

    def _items(self, opener: str, closer: str, item: Any, into: Any) -> Any:
        """opener item *("," item) closer, gathered into a list or a dict."""
        self._expect(opener)
        self._skip_space()
        while self._peek() != closer:
            value = item()
            if isinstance(into, dict):
                into.update(value)
            else:
                into.append(value)
            self._skip_space()
            if self._peek() != closer:
                self._expect(",")
                self._skip_space()
        self._expect(closer)
        return into

    def _csv(self) -> Any:
        # `K=a,b,c` is a list, but in `K=a,L=b` the `L=` starts the next key: backtrack.
        values = [self._scalar()]
        while not self._eof() and self._peek() == ",":
            mark = self._pos
            self._pos += 1
            if self._at_key():
                self._pos = mark
                break
            self._skip_space()
            quoted = self._peek() in ("'", '"')
            values.append(self._scalar())
            if not values[-1] and not quoted:
                self._fail("a value")
        return values[0] if len(values) == 1 else values

    def _at_key(self) -> bool:
        mark = self._pos
        try:
            self._key()
            self._skip_space()
            return self._peek() == "="
        except ParamError:
            return False
        finally:
            self._pos = mark

    def _scalar(self) -> str:
        """A bare word up to a special character, or a quoted one; `\\x` is x in both."""
        self._skip_space()
        quote = self._peek()
        if quote not in ("'", '"'):
            return self._read_until(_SPECIAL).strip()
        self._pos += 1
        value = self._read_until(frozenset(quote))
        self._expect(quote)
        return value

    def _read_until(self, stop: frozenset[str]) -> str:
        out = []
        while not self._eof() and self._text[self._pos] not in stop:
            if self._text[self._pos] == "\\" and self._pos + 1 < len(self._text):
                self._pos += 1
            out.append(self._text[self._pos])
            self._pos += 1
        return "".join(out)

    # tokens

    def _eof(self) -> bool:
        return self._pos >= len(self._text)

    def _peek(self) -> str:
        return "" if self._eof() else self._text[self._pos]

    def _skip_space(self) -> None:
        while not self._eof() and self._text[self._pos] in string.whitespace:
            self._pos += 1

    def _expect(self, char: str) -> None:
        self._skip_space()
        if self._peek() != char:
            self._fail(f"'{char}'")
        self._pos += 1

    def _fail(self, expected: str) -> None:
        found = "end of input" if self._eof() else f"'{self._text[self._pos]}'"
        raise ParamError(f"expected {expected}, found {found} at position {self._pos}:\n"
                         f"{self._text}\n{' ' * self._pos}^")


def parse_shorthand(text: str) -> dict[str, Any]:
    return ShorthandParser().parse(text)


# --- values of one option: JSON, shorthand, or a file ---

def load_text(raw: str) -> str:
    """aws-cli's file:// prefix: the option's value is the file's content."""
    if raw.startswith("file://"):
        path = pathlib.Path(raw[len("file://"):]).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ParamError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ParamError(f"{path} is not a text file: file:// gives the option the file's text as its value "
                             "(to restore an RDB file from the snapshot store, name it local://path/in/store, "
                             "or s3://bucket/key)") from None
    return raw


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[", '"')


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamError(f"invalid JSON: {exc}") from None


def split_list_word(word: str) -> list[str]:
    """One word of a list-of-scalars option: `a,b` is two items (`\\,` keeps a comma)."""
    items, current, i = [], [], 0
    while i < len(word):
        if word[i] == "\\" and i + 1 < len(word):
            current.append(word[i + 1])
            i += 2
            continue
        if word[i] == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(word[i])
        i += 1
    items.append("".join(current))
    return [item for item in items if item != ""]


def option_value(field: FieldDescriptor, words: list[str]) -> Any:
    """The command-line words of one option, as the raw (untyped) value of its field."""
    words = [load_text(word) for word in words]
    if is_map(field):
        text = " ".join(words)
        return parse_json(text) if looks_like_json(text) else parse_shorthand(text)
    if field.is_repeated:
        if len(words) == 1 and words[0].lstrip().startswith("["):
            return parse_json(words[0])
        if field.message_type is not None and field.message_type.full_name != TIMESTAMP:
            return [parse_json(w) if looks_like_json(w) else parse_shorthand(w) for w in words]
        return [item for word in words for item in split_list_word(word)]
    (word,) = words
    if field.message_type is not None and field.message_type.full_name != TIMESTAMP:
        return parse_json(word) if looks_like_json(word) else parse_shorthand(word)
    return word


# --- types, from the descriptor ---

_INT_TYPES = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
              FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64}
_FLOAT_TYPES = {FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE}


def is_map(field: FieldDescriptor) -> bool:
    return (field.message_type is not None and field.is_repeated
            and field.message_type.GetOptions().map_entry)


def _at(where: str, message: str) -> str:
    """A message about the value at path `where` (`ParameterNameValues[0].ParameterName`)."""
    return f"{where}: {message}" if where else message


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def find_field(message: Descriptor, key: str, where: str) -> FieldDescriptor:
    """The field a user's key names: ParameterName, parameterName and parameter_name all do."""
    for field in message.fields:
        if _normal(field.name) == _normal(key):
            return field
    valid = ", ".join(pascal(f.name) for f in message.fields)
    raise ParamError(f'Unknown parameter in {where or "input"}: "{key}", must be one of: {valid}')


def to_field_value(field: FieldDescriptor, value: Any, where: str) -> Any:
    """A parsed value made to fit field: the JSON form ParseDict accepts for it."""
    if is_map(field):
        if not isinstance(value, dict):
            raise ParamError(_at(where, "expected Key=value pairs or a JSON object"))
        value_field = field.message_type.fields_by_name["value"]
        return {str(k): _single(value_field, v, _path(where, str(k))) for k, v in value.items()}
    if field.is_repeated:
        items = value if isinstance(value, list) else [value]
        return [_single(field, item, f"{where}[{n}]" if len(items) > 1 else where)
                for n, item in enumerate(items)]
    return _single(field, value, where)


def _single(field: FieldDescriptor, value: Any, where: str) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name == TIMESTAMP:
            return parse_timestamp(value, where)
        if not isinstance(value, dict):
            raise ParamError(_at(where, f"expected a structure (Key=value,...) for {field.name}"))
        return to_message_dict(field.message_type, value, where)
    if isinstance(value, (dict, list)):
        raise ParamError(_at(where, f"expected a single value for {field.name}"))
    if field.cpp_type in _INT_TYPES:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ParamError(_at(where, f"invalid integer {value!r}")) from None
    if field.cpp_type in _FLOAT_TYPES:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ParamError(_at(where, f"invalid number {value!r}")) from None
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ParamError(_at(where, f"expected true or false, not {value!r}"))
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        for name in names:
            if _normal(name) == _normal(str(value)):
                return name
        raise ParamError(_at(where, f"{value!r} is not one of {', '.join(names)}"))
    return str(value)


def to_message_dict(message: Descriptor, value: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        field = find_field(message, key, where)
        out[field.name] = to_field_value(field, item, _path(where, key))
    return out


def parse_timestamp(value: Any, where: str) -> str:
    """ISO 8601 (a date, or a time with or without zone; UTC when none) or epoch seconds → RFC 3339."""
    text = str(value).strip()
    try:
        moment = datetime.datetime.fromtimestamp(float(text), datetime.UTC)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ParamError(_at(where, f"invalid timestamp {text!r} "
                             "(use ISO 8601, e.g. 2024-05-01T12:00:00Z, or epoch seconds)")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
