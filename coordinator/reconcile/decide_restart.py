"""A replication group whose every member stopped (the whole fleet, or every host of the
group, stopped and started again): which member's data the group comes back with.

No member kept its data in memory, so each holds only what it loads from its own files: an
append-only file, an RDB file (a replica's last full sync, a snapshot), or nothing; and the
primary's agent holds it down, since a primary is never restarted blindly. A failover would
promote a replica by its replication offset, which says nothing once every offset was
reloaded; restarting the primary would make every replica copy it, however old or empty.
Instead the group waits until every member has said what it loads, then makes the member
whose data was saved last its primary (the current one when its data is as fresh) and the
others follow it. The group's events say how old that data is and, when the members had
taken writes since, that those are lost.

Freshness is when a member's data was saved, on its host's clock: an RDB file's creation
time (its `ctime` field), an append-only file's last write (its mtime). The replication
offset would need no clock, but only an RDB file keeps one: redis reloads an append-only
file with an offset of 0. Hosts keep their clocks within milliseconds of each other (NTP);
full syncs and stops are seconds apart.

Like decide_groups, nothing here awaits, writes or reads a clock of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.model import NodeStatus
from coordinator.reconcile.actions import OneEvent, Wait
from coordinator.reconcile.decide_groups import DEAD_STATUSES, GroupView
from coordinator.reconcile.saved_data import SAME_DATA_MS, SOURCES, keys, lacks_writes, when

# How long a group whose members all stopped waits for members whose host has not reported
# (an agent starting late, a host that is lost) before it restarts from the members it heard.
RESTART_WAIT_SECONDS = 30.0
RUNNING_STATUSES = (agent_pb.NODE_STATUS_AVAILABLE, agent_pb.NODE_STATUS_STARTING)


@dataclass(frozen=True)
class RestartGroup:
    """Every member stopped: `member`, whose data is the freshest, is (again) the primary."""
    group_id: str
    member: str
    old: str                        # the primary before
    data: agent_pb.StartData        # what the member loads (or loaded)
    age_seconds: float              # how old that data is now
    last_write_ms: int = 0          # the last write any member had taken before the stop (0: none seen)
    last_write_keys: int = 0
    unheard: tuple[str, ...] = ()   # members that did not say what they hold in time

    @property
    def reason(self) -> str:
        if self.data.source == agent_pb.DATA_SOURCE_EMPTY:
            return "no member has saved data"
        return f"its data was saved last ({when(self.data.saved_unix_ms)})"

    @property
    def sentence(self) -> str:
        verb = "restarting primary" if self.member == self.old else "promoting"
        return f"{self.group_id}: every member had stopped; {verb} {self.member}, the freshest copy"

    @property
    def lost_seconds(self) -> float:
        """Seconds of acknowledged writes the chosen data lacks (0: none seen, or it is empty)."""
        saved = self.data.saved_unix_ms
        if not saved or not lacks_writes(saved, self.last_write_ms):
            return 0.0
        return (self.last_write_ms - saved) / 1000

    @property
    def events(self) -> tuple[str, ...]:
        node = f"{self.member}-0001"
        came = "came back as primary" if self.member == self.old else \
            f"is primary in place of {self.old}-0001"
        head = f"Replication group restarted after every member stopped: {node} {came}"
        if self.data.source == agent_pb.DATA_SOURCE_EMPTY:
            said = f"{head}, empty: no member had its data saved (appendonly is no)"
        else:
            said = (f"{head} with the freshest data, from {SOURCES[self.data.source]} saved at "
                    f"{when(self.data.saved_unix_ms)} ({self.age_seconds:.0f} s before the restart)")
            if self.data.source == agent_pb.DATA_SOURCE_RDB:
                said += "; appendonly is no: writes since that file was saved are lost"
        if self.unheard:
            said += (f"; {', '.join(f'{m}-0001' for m in self.unheard)} did not say what data it holds "
                     f"within {RESTART_WAIT_SECONDS:.0f} s")
        return (said, *self._loss())

    def _loss(self) -> tuple[str, ...]:
        if not self.last_write_ms:
            return ()
        last = f"its last write was at {when(self.last_write_ms)}, when it held {keys(self.last_write_keys)}"
        if self.data.source == agent_pb.DATA_SOURCE_EMPTY:
            return (f"Data of replication group {self.group_id} lost: no member kept a copy; {last}",)
        if not self.lost_seconds:
            return ()
        return (f"Writes to replication group {self.group_id} lost: its freshest copy is "
                f"{self.lost_seconds:.0f} s older than what it had acknowledged ({last})",)


@dataclass(frozen=True)
class NoCopy(OneEvent):
    """Every member stopped and none can start: said once, then waited out."""
    group_id: str
    reason: str = "no member can be started"

    @property
    def message(self) -> str:
        return f"Every member of replication group {self.group_id} stopped and none can be started"


RestartAction = RestartGroup | NoCopy | Wait


def kept_running(report: agent_pb.NodeState | None) -> bool | None:
    """Whether a non-primary member's engine holds data it did not load at its start: it
    runs, and has been linked to a primary since it started (or runs as a master). None: not
    known (no report)."""
    if report is None:
        return None
    if report.status not in RUNNING_STATUSES:
        return False
    info = report.replication
    return info.linked_since_start or info.link_status == agent_pb.LINK_STATE_UP or info.role == agent_pb.ROLE_PRIMARY


def every_member_stopped(view: GroupView) -> bool:
    """The group holds its data nowhere in memory: no replica is known to have kept running,
    and some member says it stopped (its primary is down, or a replica restarted since).
    A member not heard of may have kept running: decide_restart waits to hear it. A member
    whose agent does not say what its engine starts with (an older agent) leaves the group
    to the failover rules."""
    group = view.group
    if not group.replicas or group.primary_failed:
        return False
    node = view.node(group.primary)
    if node is None or node.status == NodeStatus.CREATING:
        return False
    reports = [r for m in group.members if (r := view.report(m)) is not None]
    if any(not r.HasField("start_data") for r in reports):
        return False
    primary = view.report(group.primary)
    if primary is not None and primary.status not in DEAD_STATUSES:
        return False
    kept = [kept_running(view.report(m)) for m in group.replicas]
    return not any(kept) and (primary is not None or False in kept)


def freshness(data: agent_pb.StartData) -> int:
    """When the data was saved (ms), -1 for none: more is fresher."""
    return data.saved_unix_ms if data.source in SOURCES else -1


def freshest(view: GroupView) -> str | None:
    """The member a restart comes back from: the one whose data was saved last, the current
    primary when its data is as fresh; None when no member can start."""
    group = view.group
    candidates: dict[str, int] = {}
    for member in group.members:
        report = view.report(member)
        if report is not None and report.HasField("start_data") and report.status != agent_pb.NODE_STATUS_FAILED:
            candidates[member] = freshness(report.start_data)
    if not candidates:
        return None
    best = max(candidates.values())
    if group.primary in candidates and candidates[group.primary] >= best - SAME_DATA_MS:
        return group.primary
    return next(m for m in group.members if candidates.get(m) == best)


def unheard(view: GroupView) -> list[str]:
    """Members that have not said what they load: their host has not reported since the
    coordinator started, or is lost. (One still loading has said it: before its start.)"""
    return [m for m in view.group.members if view.report(m) is None]


def decide_restart(view: GroupView, stopped_since: float | None, now: float,
                   wall_ms: int) -> tuple[RestartAction, float | None]:
    """What to do about a group whose every member stopped (every_member_stopped); also when
    that was first seen (monotonic `now`), which the reconciler keeps for the next cycle.
    `wall_ms` is the hosts' time (they date the data) for how old the data is."""
    group = view.group
    stopped_since = now if stopped_since is None else stopped_since
    waiting = unheard(view)
    if waiting and now - stopped_since < RESTART_WAIT_SECONDS:
        return Wait(f"{waiting[0]} has not said what data it starts with"), stopped_since
    member = freshest(view)
    if member is None:
        return NoCopy(group.group_id), stopped_since
    report = view.report(member)
    assert report is not None
    data = report.start_data
    writes = [view.report(m) for m in group.members]
    last = max((r.start_data for r in writes if r is not None and r.HasField("start_data")),
               key=lambda d: d.last_write_unix_ms)
    age = max(0.0, (wall_ms - data.saved_unix_ms) / 1000) if data.saved_unix_ms else 0.0
    return RestartGroup(group.group_id, member, group.primary, data, age, last.last_write_unix_ms,
                        last.last_write_keys, tuple(waiting)), None
