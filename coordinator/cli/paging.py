"""aws-cli's pagination for the Describe verbs that page (MaxRecords and Marker).

By default the CLI follows Marker until the last page and prints every item as one answer,
as aws-cli does. `--max-items N` stops after N items and prints a `NextToken`, which
`--starting-token` takes to go on (even from the middle of a page); `--page-size N` sets
MaxRecords of each call. `--no-paginate`, or the service's own `--marker` / `--max-records`,
make one call and print its Marker as the service gave it.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from coordinator.cli.usage import UsageError

OPTIONS = ("no_paginate", "max_items", "starting_token", "page_size")


@dataclass(frozen=True)
class Pages:
    """Where a response keeps its pages: the Marker and the list, in the response itself or in
    one of its fields (DescribeEngineDefaultParameters: EngineDefaults)."""
    holder: str
    items: str

    def part(self, response: Message) -> Message:
        return getattr(response, self.holder) if self.holder else response


def pages_of(request_descriptor, response_descriptor) -> Pages | None:
    """The verb's pages, or None when its request has no MaxRecords and Marker."""
    fields = request_descriptor.fields_by_name
    if "marker" not in fields or "max_records" not in fields:
        return None
    holder, shape = "", response_descriptor
    if "marker" not in shape.fields_by_name:
        found = [fd for fd in shape.fields if fd.message_type is not None
                 and "marker" in fd.message_type.fields_by_name]
        if len(found) != 1:
            return None
        holder, shape = found[0].name, found[0].message_type
    lists = [fd.name for fd in shape.fields if fd.is_repeated]
    return Pages(holder, lists[0]) if len(lists) == 1 else None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pagination (aws-cli's)")
    group.add_argument("--no-paginate", action="store_true", default=False,
                       help="make one call and print its page, with the Marker of the next one")
    group.add_argument("--max-items", type=positive, metavar="N",
                       help="print at most N items, and a NextToken to go on from with --starting-token")
    group.add_argument("--starting-token", metavar="TOKEN", help="go on from a NextToken printed before")
    group.add_argument("--page-size", type=positive, metavar="N",
                       help="records per call (MaxRecords, 20-100); all pages are still printed")


def encode_token(marker: str, skip: int) -> str:
    raw = json.dumps({"Marker": marker, "boto_truncate_amount": skip}).encode()
    return base64.b64encode(raw).decode()


def decode_token(token: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        marker, skip = data.get("Marker", ""), int(data.get("boto_truncate_amount", 0))
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise UsageError(f"argument --starting-token: not a NextToken this CLI printed: {token!r}") from None
    if not isinstance(marker, str) or skip < 0:
        raise UsageError(f"argument --starting-token: not a NextToken this CLI printed: {token!r}")
    return marker, skip


def collect(call: Callable[[Message], Message], request: Message, pages: Pages, max_items: int | None,
            starting_token: str | None, page_size: int | None) -> tuple[Message, str]:
    """Every item from starting_token on (at most max_items) as one response without a Marker,
    and the NextToken to go on from ("" when there is nothing more)."""
    marker, skip = decode_token(starting_token) if starting_token else ("", 0)
    if page_size:
        request.max_records = page_size
    merged: Message | None = None
    seen: set[str] = set()
    while True:
        request.marker = marker
        response = call(request)
        page = pages.part(response)
        items = list(getattr(page, pages.items))[skip:]
        if merged is None:
            merged = type(response)()
            merged.CopyFrom(response)
            del getattr(pages.part(merged), pages.items)[:]
        into = getattr(pages.part(merged), pages.items)
        room = None if max_items is None else max_items - len(into)
        if room is not None and len(items) > room:
            into.extend(items[:room])
            token = encode_token(marker, skip + room)
            break
        into.extend(items)
        skip, marker = 0, page.marker
        if not marker or marker in seen:
            token = ""
            break
        seen.add(marker)
        if max_items is not None and len(into) >= max_items:
            token = encode_token(marker, 0)
            break
    pages.part(merged).marker = ""
    return merged, token
