"""What a redis node's data directory gave its engine at its last start, and when the engine
last took a write: how a restart tells what it kept and what it lost.

A restarted redis serves what its files held: an append-only file or an RDB file saved at
some time, or nothing. The coordinator compares when that was saved with the last write the
engine before it took, to choose a restarted group's freshest member and to say what was
lost; a coordinator restarted with the fleet remembers neither, so both live in the node's
data directory, beside the data they describe:

- `last-write.json`: when the running engine last took a write (its write counter, INFO
  persistence `rdb_changes_since_last_save`, or its key count moved between two probes) and
  its keys then. Rewritten at most once a second while writes flow, and at once when a probe
  finds the engine gone, so what it says is at most a second (and a probe) behind. Not
  fsynced: a host that loses power loses the last second of it, as the engine does.
- `start.json`: what the agent found just before it started the engine (what it loads, when
  that was saved, and the last write of the engine before), so that an agent restarted
  under a running engine reports the same.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from cachefleet.v1 import node_agent_pb2
from google.protobuf import json_format

from nodeagent.engines import Engine, ProbeResult
from nodeagent.layout import StateDir, write_atomic

log = structlog.get_logger("nodeagent.startdata")

LAST_WRITE_FILE = "last-write.json"
START_FILE = "start.json"
FLUSH_INTERVAL_S = 1.0


@dataclass
class _Writes:
    """One node's write tracking: what the last probe read, the last write seen."""

    seen: tuple[str, int, int] | None = None    # run id, write counter, keys
    unix_ms: int = 0
    keys: int = 0
    pending: bool = False                       # not yet in last-write.json
    flushed_at: float = float("-inf")           # monotonic


class DataHistory:
    """Keeps last-write.json and start.json of every node whose engine persists data."""

    def __init__(self, state: StateDir, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._clock = clock
        self._monotonic = monotonic
        self._writes: dict[str, _Writes] = {}

    # --- writes, from every probe ---

    def observe(self, node_key: str, result: ProbeResult) -> None:
        """Note a write when the engine's write counter or key count moved since the last
        probe of the same process; write it down when due, or at once when the engine is gone."""
        writes = self._writes.setdefault(node_key, _Writes())
        info, data = result.replication, result.data
        if result.ok and data is not None and info is not None and info.run_id:
            seen = (info.run_id, data.changes, data.keys)
            previous, writes.seen = writes.seen, seen
            if previous is not None and previous[0] == seen[0] and previous[1:] != seen[1:]:
                writes.unix_ms, writes.keys, writes.pending = int(self._clock() * 1000), data.keys, True
        if writes.pending and (not result.ok or self._monotonic() - writes.flushed_at >= FLUSH_INTERVAL_S):
            self.flush(node_key)

    def flush(self, node_key: str) -> None:
        """Write down the last write seen, if it is not yet."""
        writes = self._writes.get(node_key)
        if writes is None or not writes.pending:
            return
        data_dir = self._state.data_dir(node_key)
        try:
            write_atomic(data_dir / LAST_WRITE_FILE, json.dumps({"unix_ms": writes.unix_ms, "keys": writes.keys}))
        except OSError as error:       # its data directory is gone (removed): nothing to keep
            log.warning("cannot note the last write", node_key=node_key, error=str(error))
        writes.pending, writes.flushed_at = False, self._monotonic()

    def flush_all(self) -> None:
        for node_key in list(self._writes):
            self.flush(node_key)

    def forget(self, node_key: str) -> None:
        self._writes.pop(node_key, None)

    # --- what a start loads ---

    def inspect(self, spec: node_agent_pb2.NodeSpec, engine: Engine) -> node_agent_pb2.StartData | None:
        """What a start of the node's engine would load now, with the last write of the engine
        before (blocking file work: a few stats and the head of one file)."""
        data_dir = self._state.data_dir(spec.node_key)
        data = engine.start_data(spec, data_dir)
        if data is None:
            return None
        try:
            last = json.loads((data_dir / LAST_WRITE_FILE).read_text())
            data.last_write_unix_ms, data.last_write_keys = int(last["unix_ms"]), int(last["keys"])
        except (OSError, ValueError, KeyError, TypeError):
            pass        # no write seen yet (a new node), or an older agent ran it
        return data

    def record_start(self, spec: node_agent_pb2.NodeSpec, engine: Engine) -> node_agent_pb2.StartData | None:
        """inspect(), kept as what the start about to happen loads (blocking)."""
        data = self.inspect(spec, engine)
        if data is not None:
            write_atomic(self._state.data_dir(spec.node_key) / START_FILE, json_format.MessageToJson(data))
        return data

    def last_start(self, node_key: str) -> node_agent_pb2.StartData | None:
        """What the running engine's start loaded, as record_start kept it (None: not kept)."""
        try:
            text = (self._state.data_dir(node_key) / START_FILE).read_text()
            return json_format.Parse(text, node_agent_pb2.StartData())
        except (OSError, json_format.ParseError):
            return None
