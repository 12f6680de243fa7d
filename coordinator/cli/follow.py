"""Streaming verbs: `cachefleet watch-events` and `cachefleet describe-events --follow`.

Each message is printed as soon as it arrives, one line each: a compact JSON object per
line with `--output json` (JSON Lines), aws-cli's tab-separated text otherwise (a table
cannot be drawn before its last row). `--query` applies to each message. Runs until the
coordinator ends the stream or Ctrl-C (exit 130, as every verb).
`describe-events --follow` calls WatchEvents with the same filters: stored events from
`--start-time` (or the last `--duration` minutes) first, when given, then new ones live.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from collections.abc import Callable

from google.protobuf.message import Message

from coordinator.cli.usage import UsageError
from coordinator.cli.output import render_text, to_aws


def follow_request(request: Message, target: Message) -> Message:
    """Copy the fields the two requests share (source filters, start time, duration); a
    given option the stream cannot honour (--end-time, --max-records, --marker) is a usage
    error rather than silently ignored: a stream has no end, nor pages."""
    fields = target.DESCRIPTOR.fields_by_name
    unfollowable = sorted("--" + fd.name.replace("_", "-")
                          for fd, _ in request.ListFields() if fd.name not in fields)
    if unfollowable:
        raise UsageError(f"--follow cannot be combined with {', '.join(unfollowable)}: it streams events "
                         "until Ctrl-C (use describe-events without --follow for a closed range).")
    for fd in request.DESCRIPTOR.fields:
        if fd.name not in fields:
            continue
        if fd.message_type is not None:
            if request.HasField(fd.name):
                getattr(target, fd.name).CopyFrom(getattr(request, fd.name))
        else:
            setattr(target, fd.name, getattr(request, fd.name))
    return target


def print_stream(messages, args: argparse.Namespace, query: Callable[[str, Any], Any] | None = None) -> int:
    for message in messages:
        data: Any = to_aws(message)
        if args.query and query is not None:
            data = query(args.query, data)
        if data is None:
            continue
        if args.output == "json":
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            sys.stdout.write(render_text(data))
        sys.stdout.flush()
    return 0
