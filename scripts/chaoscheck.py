"""What scripts/chaos checks once its schedule is over, as pure functions of what it recorded:
the writers' acknowledged writes, the groups' promotions (the coordinator's failover events)
and the faults' times. Nothing here talks to a fleet, so the checks are tested in-process
(tests/unit/test_chaos_checks.py).

The rules, for one replication group:

- **Who may acknowledge.** Before the first promotion the group's first primary does; from a
  promotion's event on, the promoted member does. A write acknowledged by any other address
  (an old primary past its promotion, a replica) is an overlap: two primaries took writes at
  once. A write straddling a promotion ([sent, done] holds the event) may be by either.
- **What may be lost.** A promotion's *window* runs from the start of the fault it happened
  under, less `SLACK_S` (replication is asynchronous: a write acknowledged just before the
  fault may not have reached a replica yet), to the promotion's event. Writes the deposed
  primary acknowledged inside it may be missing from the final primary: a primary cut off
  from its replicas goes on acknowledging until its own guard fences it, and those writes
  never reach the replica that is promoted. Any other acknowledged write missing is lost.

A standalone node has no promotions: every write it acknowledged must still be there.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

SLACK_S = 1.0          # a window opens this long before its fault: replication is asynchronous
EPSILON_S = 0.05       # event times and the writers' times come from the same clock, but not at once


@dataclass(frozen=True)
class Write:
    """One acknowledged write: wall-clock times, the server ("ip:port") that said OK."""
    writer: str
    key: str
    sent: float
    done: float
    address: str


@dataclass(frozen=True)
class Promotion:
    """A failover event: `new` became primary at `at` (the event's time), in place of `old`."""
    at: float
    old: str                # member ids
    new: str
    old_address: str        # "ip:port"
    new_address: str


@dataclass(frozen=True)
class FaultSpan:
    """When one fault of the schedule began (its epoch runs until the next one begins)."""
    index: int
    label: str
    start: float


@dataclass
class Window:
    """A promotion's window: writes the deposed primary acknowledged in it, and how many of
    them the final primary does not hold."""
    fault: FaultSpan | None
    promotion: Promotion
    start: float
    acked: int = 0
    lost: int = 0


@dataclass
class Verdict:
    """One group's (or standalone node's) findings."""
    name: str
    acked: int
    missing: int
    lost: list[Write] = field(default_factory=list)          # missing outside every window
    overlaps: list[Write] = field(default_factory=list)      # acknowledged off the primary
    windows: list[Window] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.overlaps


def fault_of(faults: Sequence[FaultSpan], at: float) -> FaultSpan | None:
    """The fault whose epoch holds `at` (None: before the first fault)."""
    starts = [f.start for f in faults]
    i = bisect.bisect_right(starts, at) - 1
    return faults[i] if i >= 0 else None


def primaries_between(first: str, promotions: Sequence[Promotion], a: float, b: float) -> set[str]:
    """The addresses that were primary at some time in [a, b]."""
    current = first
    seen: set[str] = set()
    for p in promotions:
        if p.at <= a:
            current = p.new_address
        elif p.at <= b:
            seen.add(p.new_address)
    return seen | {current}


def check_group(name: str, first_primary: str, writes: Sequence[Write], missing: set[str],
                promotions: Sequence[Promotion], faults: Sequence[FaultSpan]) -> Verdict:
    """The group's verdict. first_primary: its primary's address before anything happened;
    missing: the keys of `writes` the final primary does not hold; promotions in time order."""
    verdict = Verdict(name, acked=len(writes), missing=len(missing))
    for p in promotions:
        fault = fault_of(faults, p.at)
        verdict.windows.append(Window(fault, p, fault.start - SLACK_S if fault else p.at))
    for w in writes:
        allowed = primaries_between(first_primary, promotions, w.sent - EPSILON_S, w.done + EPSILON_S)
        if w.address not in allowed:
            verdict.overlaps.append(w)
        window = next((x for x in verdict.windows if w.address == x.promotion.old_address
                       and x.start <= w.sent <= x.promotion.at), None)
        if window is not None:
            window.acked += 1
        if w.key in missing:
            if window is not None:
                window.lost += 1
            else:
                verdict.lost.append(w)
    return verdict


def check_standalone(name: str, writes: Sequence[Write], missing: set[str]) -> Verdict:
    """A standalone node keeps every write it acknowledged."""
    return Verdict(name, acked=len(writes), missing=len(missing),
                   lost=[w for w in writes if w.key in missing])
