"""Who leads the coordinators, decided from what one coordinator last saw of etcd: pure rules.

A coordinator leads while the leadership key is held by its own lease AND that lease is,
by its own clock, surely still alive. "Surely": etcd starts a lease's TTL when it receives
the keep-alive, which is after we sent it, so `sent + TTL` is never later than etcd's own
expiry. The leader stops acting `retry_timeout` before even that (the renew deadline), so
that what it started just before can finish before a successor can exist; and every store
write it makes carries a compare on its key's creation revision, so a write that is late
anyway fails instead of landing.

The arithmetic, checked at start-up (Patroni's rule): a leader renews every `renew_interval`
and a renewal may take `retry_timeout`; two attempts must fit in the TTL, or a single slow
answer would depose a healthy leader.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    ttl: int                 # seconds: etcd's lease TTL (whole seconds)
    renew_interval: float    # seconds between renewals (a cycle)
    retry_timeout: float     # seconds one etcd call may take

    def check(self) -> None:
        """ValueError unless the lease survives two renewals that each take retry_timeout."""
        if self.ttl < 1 or self.renew_interval <= 0 or self.retry_timeout <= 0:
            raise ValueError(f"leader lease {self.ttl}s, renew interval {self.renew_interval}s and retry timeout "
                             f"{self.retry_timeout}s must all be positive")
        if self.renew_interval + 2 * self.retry_timeout > self.ttl:
            least = math.ceil(self.renew_interval + 2 * self.retry_timeout)
            raise ValueError(f"leader lease {self.ttl}s is shorter than renew interval {self.renew_interval}s + "
                             f"2 x retry timeout {self.retry_timeout}s: a leader could lose its lease to one slow "
                             f"answer; give a lease of at least {least}s")

    @property
    def margin(self) -> float:
        """How long before its lease surely ends a leader stops acting."""
        return self.retry_timeout


@dataclass(frozen=True)
class Lease:
    """Our etcd lease, and until when (our monotonic clock) it is surely alive at etcd."""
    id: int
    alive_until: float


@dataclass(frozen=True)
class Holder:
    """Who holds the leadership key: the name it wrote, the lease it holds it with, and the
    key's creation revision (what a leader's writes compare)."""
    name: str
    lease: int
    create_revision: int


@dataclass(frozen=True)
class Verdict:
    leading: bool
    create_revision: int | None   # the guard of the leader's writes; None unless leading
    sentence: str


def judge(me: str, now: float, lease: Lease | None, holder: Holder | None, timing: Timing) -> Verdict:
    """Whether `me` may act as leader now, with the sentence that says why."""
    if lease is None:
        return Verdict(False, None, "not leading: no lease from etcd")
    if holder is None:
        return Verdict(False, None, "not leading: the leadership key could not be read")
    if holder.lease != lease.id:
        return Verdict(False, None, f"following {holder.name}, the leader")
    left = lease.alive_until - now
    if left <= timing.margin:
        return Verdict(False, None, f"not acting as leader: the lease was not renewed in time "
                                    f"({max(left, 0.0):.1f}s left at most)")
    return Verdict(True, holder.create_revision, f"I am {me}, the leader with the lease")


def renewed(lease: Lease | None, sent: float, ttl_left: int) -> Lease | None:
    """The lease after a keep-alive sent at `sent` answered with ttl_left seconds (0: it is gone)."""
    if lease is None or ttl_left <= 0:
        return None
    return Lease(lease.id, max(lease.alive_until, sent + ttl_left))


@dataclass(frozen=True)
class Member:
    """One coordinator as `describe-coordinators` lists it. Times are wall-clock seconds."""
    name: str
    endpoint: str
    started: float | None = None         # when it registered itself (its process started)
    leader: bool = False
    leader_since: float | None = None    # when it took the leadership key


def roster(registered: list[Member], leader: Member | None) -> list[Member]:
    """Every registered coordinator by name, the leader marked with the time it took the key.
    A leader whose own registration is missing (written after the key, or its lease re-granted
    just now) is listed anyway: who leads is never left out."""
    by_name = {member.name: member for member in registered}
    if leader is not None:
        known = by_name.get(leader.name)
        by_name[leader.name] = Member(leader.name, leader.endpoint or (known.endpoint if known else ""),
                                      known.started if known else None, True, leader.leader_since)
    return [by_name[name] for name in sorted(by_name)]
