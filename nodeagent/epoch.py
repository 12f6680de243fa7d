"""Refusing a deposed leader: the agent keeps the highest leader epoch it has seen.

Every coordinator call and heartbeat answer carries the epoch of the leadership it comes
from (cachefleet/common/leader_epoch.py). A leader that lost its etcd lease stops acting at
its own renew deadline, but a call it sent just before can still arrive after the next
leader's first one; the agent refuses such a call (a LOWER epoch than one it has seen) with
FAILED_PRECONDITION `StaleLeader` and changes nothing, so the new leader's word stands.

A call without an epoch (or with 0, a coordinator on SQLite) is accepted only while the agent
has never seen one above 0: a fleet that never ran an election never has one, and once it
has, an epoch-less caller could be anyone's leftover. The highest epoch is a fact about the
host, not the process, so it is kept in a file (replaced atomically and fsynced): a restarted
agent still refuses what it refused before.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import structlog

from cachefleet.common.atomicfile import write_atomically
from cachefleet.common.guarded import guarded
from cachefleet.common.leader_epoch import METADATA

log = structlog.get_logger("nodeagent.epoch")

# What a deposed leader must not do: run, stop or restore engines, ship snapshots, change the
# discovery answers or the firewall, have keys made. Reads (GetHostInfo, ListNodes) and the
# peers' ConfirmPrimary are answered whatever the epoch.
MUTATING = frozenset(f"/cachefleet.v1.NodeAgent/{name}" for name in (
    "EnsureNode", "RemoveNode", "TakeSnapshot", "RestoreNodeData", "SetDiscovery", "RequestNodeCertificate",
    "SetFirewall"))


@dataclasses.dataclass(frozen=True)
class Admission:
    accepted: bool
    seen: int      # the highest epoch seen, after this one
    why: str = ""  # why it was refused


def admit(seen: int, sent: int) -> Admission:
    """Whether a call or heartbeat answer with epoch `sent` (0: none) is accepted by an agent
    that has seen `seen` at most, and what it has seen after it."""
    if sent <= 0:
        if seen > 0:
            return Admission(False, seen, f"the call carries no leader epoch, and this agent has seen "
                                          f"epoch {seen}: only the current leader is obeyed")
        return Admission(True, seen)
    if sent < seen:
        return Admission(False, seen, f"leader epoch {sent} is older than epoch {seen}, which this agent has "
                                      f"seen: the calling coordinator was deposed")
    return Admission(True, sent)


def parse(value: str | bytes | None) -> int:
    """The epoch in a metadata value; 0 when absent. ValueError when it is not a whole number >= 0."""
    if value is None:
        return 0
    text = value.decode() if isinstance(value, bytes) else value
    if not text.isdigit():
        raise ValueError(f"the {METADATA} metadata must be a whole number, not {text[:32]!r}")
    return int(text)


def sent_epoch(metadata: Sequence[tuple[str, str | bytes]] | None) -> int:
    """The epoch a call's metadata carries (0: none). ValueError when it is malformed."""
    for key, value in metadata or ():
        if key == METADATA:
            return parse(value)
    return 0


class EpochBook:
    """The highest leader epoch this host has seen, kept in `path` (None: in memory only)."""

    def __init__(self, path: pathlib.Path | None = None) -> None:
        self._path = path
        self.seen = 0

    def load(self) -> None:
        """Read the epoch a previous agent process kept; an unreadable file is logged and kept
        aside (it is not overwritten until an epoch is seen)."""
        if self._path is None:
            return
        try:
            self.seen = max(int(json.loads(self._path.read_text())["leader_epoch"]), 0)
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("cannot read the leader epoch this host has seen; starting from none",
                      path=str(self._path), error=str(error))

    def admit(self, sent: int) -> Admission:
        """Judge epoch `sent`; a higher one is remembered (on disk before it is acted on)."""
        verdict = admit(self.seen, sent)
        if verdict.seen > self.seen:
            if self._path is not None:
                write_atomically(self._path, json.dumps({"leader_epoch": verdict.seen}) + "\n", 0o600)
            log.info("a newer coordinator leadership seen", leader_epoch=verdict.seen, previous_epoch=self.seen)
            self.seen = verdict.seen
        return verdict


class StaleLeaderGate(grpc.aio.ServerInterceptor):
    """Refuses the mutating NodeAgent calls of a deposed leader before the servicer sees them,
    and raises the host's epoch from every call that carries a higher one."""

    def __init__(self, book: EpochBook) -> None:
        self._book = book

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or not details.method.startswith("/cachefleet.v1.NodeAgent/"):
            return handler
        method = details.method
        return guarded(handler, lambda context: self._admit(method, context))

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        try:
            sent = sent_epoch(context.invocation_metadata())
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"InvalidParameterValue: {error}")
            return
        try:
            if method not in MUTATING:
                if sent > self._book.seen:
                    self._book.admit(sent)
                return
            verdict = self._book.admit(sent)
        except OSError as error:   # a higher epoch is acted on only once it is kept
            log.error("cannot keep the leader epoch", leader_epoch=sent, error=str(error))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ServiceUnavailable: the agent cannot keep the "
                                "leader epoch in its state directory; ask again")
            return
        if not verdict.accepted:
            log.warning("refused a call from a deposed leader", rpc=method.rsplit("/", 1)[-1], leader_epoch=sent,
                        seen_epoch=verdict.seen)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"StaleLeader: {verdict.why}")
