"""How old a restarted redis node's data is and what it lacks, in the words events use: shared
by the events of a node (decide_clusters) and of a group whose every member stopped
(decide_restart).

A node's agent says what its engine's start loaded (StartData: nothing, an RDB file or the
append-only file, saved when) and the last write the engine before it took. A write later
than the save is not in the data: it is lost.
"""
from __future__ import annotations

import datetime

from cachefleet.v1 import node_agent_pb2 as agent_pb

# A last write this close after the save is no loss: the agent notes a write at the probe
# after it (5 a second), an RDB file's creation time is in whole seconds, and a replica writes
# what its primary sent a moment after the primary did. Losses this short go unsaid.
SAME_DATA_MS = 1000
SOURCES = {agent_pb.DATA_SOURCE_AOF: "its append-only file", agent_pb.DATA_SOURCE_RDB: "its RDB file"}


def when(unix_ms: int) -> str:
    """A host's time as events say it."""
    return datetime.datetime.fromtimestamp(unix_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def keys(count: int) -> str:
    return f"{count} key" if count == 1 else f"{count} keys"


def lacks_writes(saved_ms: int, last_write_ms: int) -> bool:
    """Whether data saved at saved_ms (0: nothing saved) lacks a last write seen at
    last_write_ms (0: none seen)."""
    return bool(last_write_ms) and last_write_ms > saved_ms + SAME_DATA_MS


def last_write(data: agent_pb.StartData) -> str:
    """"its last write was at T, when it held N keys"."""
    return f"its last write was at {when(data.last_write_unix_ms)}, when it held {keys(data.last_write_keys)}"


def node_loss(data: agent_pb.StartData) -> str:
    """What a node's own start lost, as a clause ("" when nothing it had acknowledged is missing)."""
    if not lacks_writes(data.saved_unix_ms, data.last_write_unix_ms):
        return ""
    if data.source == agent_pb.DATA_SOURCE_EMPTY:
        return f"; every write it had acknowledged is lost ({last_write(data)})"
    seconds = (data.last_write_unix_ms - data.saved_unix_ms) / 1000
    return (f"; what it loaded was saved at {when(data.saved_unix_ms)}, {seconds:.0f} s before its last "
            f"write: the writes of those seconds are lost ({last_write(data)})")
