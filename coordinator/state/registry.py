"""The host registry: what every agent last announced and reported, and who is lost.

Heartbeats land here; the reconciler reads it. Hosts are persisted so that a
restarted coordinator lists them at once and gives each a full timeout to call
back before it declares it lost.

A coordinator that was itself away (its process stopped, its event loop blocked by a
pause or a heavy request) heard no heartbeat meanwhile; that silence is its own, not the
hosts'. `keep_time()` runs every TICK_SECONDS beside the reconciler: when it, or a
heartbeat, or a judgment finds the loop ran more than STALL_SECONDS late, every host's
silence is credited with the gap, so a host is lost only for heartbeats the coordinator
was there to receive.

The pace (domain/heartbeat_pace.py) stretches the heartbeat interval, lease and host
timeout as the fleet grows. A host is lost only when its silence passes the timeout for the
fleet's size now AND every lease it was granted has run out (plus the fence slack): a lease
granted when the fleet was larger is never cut short by a timeout that shrank since.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from collections.abc import Callable

import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.heartbeat_pace import FENCE_SLACK, FleetPace, Pace
from coordinator.state.store import Store

log = structlog.get_logger("registry")

TICK_SECONDS = 0.1
STALL_SECONDS = 0.5     # the tick was this late: the coordinator itself was not running


@dataclass
class HostState:
    info: agent_pb.HostInfo
    last_seen: float                                   # monotonic seconds
    nodes: dict[str, agent_pb.NodeState] = field(default_factory=dict)
    lost_at: float | None = None                       # monotonic seconds when it was declared lost
    reported: bool = False                             # has sent a heartbeat since our start
    granted_until: float = 0.0                         # monotonic: every lease it holds from us ended (+ slack)

    @property
    def lost(self) -> bool:
        return self.lost_at is not None

    @property
    def host_id(self) -> str:
        return self.info.host_id

    def engine_versions(self, engine: str) -> set[str]:
        return {e.version for e in self.info.engines if e.engine == engine}


class HostRegistry:
    def __init__(self, store: Store, host_timeout: float, monotonic: Callable[[], float] = time.monotonic,
                 pace: FleetPace | None = None):
        self._store = store
        # the base pace; without a budget the timeout never stretches (tests that give only a timeout)
        self.pace = pace or FleetPace(Pace(interval=0.0, lease=0.0, host_timeout=host_timeout))
        self._monotonic = monotonic
        self.hosts: dict[str, HostState] = {}
        self._awake_at: float | None = None   # when the coordinator last ran (None: not keeping time)
        self.away_seconds = 0.0                # the coordinator's own gaps, credited to every host
        # host id -> "" when its agent enforces the cache security groups it was sent, else why not
        self.firewall: dict[str, str] = {}
        self.version = 0   # moves when a host joins, is lost, comes back or changes what it announces
        # node keys whose report changed in a way the reconciler acts on, since the cycle took them
        self._changed_nodes: set[str] = set()
        # one of those reports says a primary stopped serving or a replica lost sight of its
        # primary: a failover may be due, and a cycle under way leaves the rest to the next one
        self.urgent = False

    async def load(self) -> None:
        """Restore known hosts from the store, each with a fresh timeout."""
        now = self._monotonic()
        for rec in await self._store.list("hosts/"):
            info = agent_pb.HostInfo()
            info.ParseFromString(bytes.fromhex(rec.value["info"]))
            self.hosts[info.host_id] = HostState(info=info, last_seen=now)

    def current_pace(self) -> Pace:
        """The interval, lease and host timeout for the fleet as large as it is now."""
        return self.pace.for_hosts(len(self.hosts))

    @property
    def host_timeout(self) -> float:
        return self.current_pace().host_timeout

    def grant(self, host_id: str) -> Pace:
        """The pace an answer to this host's heartbeat carries, taken now: the host is not
        declared lost before the lease in that answer (counted from now, later than the agent
        counts it) has run out and its fence applied."""
        pace = self.current_pace()
        state = self.hosts.get(host_id)
        if state is not None:
            state.granted_until = max(state.granted_until, self._monotonic() + pace.lease + FENCE_SLACK)
        return pace

    def silence_from_now(self) -> None:
        """Count every host's silence from now on: a coordinator that only now begins to lead
        (its predecessor heard the heartbeats until then) was not there to hear them before."""
        now = self._monotonic()
        for state in self.hosts.values():
            if not state.lost:
                state.last_seen = max(state.last_seen, now)

    async def keep_time(self) -> None:
        """Run beside the reconciler: notice the coordinator's own stalls as they end."""
        while True:
            self.credit_own_absence()
            await asyncio.sleep(TICK_SECONDS)

    def credit_own_absence(self) -> None:
        """When the coordinator ran last more than STALL_SECONDS ago, it was away: the hosts'
        silence in that gap is not counted against them."""
        now = self._monotonic()
        if self._awake_at is not None and now - self._awake_at > STALL_SECONDS:
            gap = now - self._awake_at
            for state in self.hosts.values():
                if not state.lost:
                    state.last_seen = min(now, state.last_seen + gap)
            self.away_seconds += gap
            log.warning("coordinator was away; hosts' silence in that time not counted", seconds=round(gap, 3))
        self._awake_at = now

    def _judging(self) -> None:
        if self._awake_at is not None:   # keeping time: a stall may have just ended
            self.credit_own_absence()

    async def heartbeat(self, info: agent_pb.HostInfo, nodes: list[agent_pb.NodeState]) -> bool:
        """Record a heartbeat; True when something the reconciler cares about changed."""
        self._judging()
        state = self.hosts.get(info.host_id)
        new_nodes = {n.node_key: n for n in nodes}
        announced = state is None or _info_differs(state.info, info)   # joined, or announces something new
        changed = state is None or state.lost or not state.reported
        if state is not None and not changed:
            changed = _nodes_differ(state.nodes, new_nodes) or announced
            if changed:
                moved = [k for k, n in new_nodes.items() if k not in state.nodes
                         or _significant(state.nodes[k]) != _significant(n)]
                _log_reported(info.host_id, state.nodes, new_nodes, moved)
                self._changed_nodes.update(moved)
                self.urgent = self.urgent or any(k in state.nodes and _worse(state.nodes[k], new_nodes[k])
                                                 for k in moved)
        if announced or (state is not None and state.lost):
            self.version += 1
        if announced:
            await self._store.put(f"hosts/{info.host_id}", {"info": info.SerializeToString().hex()})
        if state is None:
            state = self.hosts[info.host_id] = HostState(info=info, last_seen=self._monotonic())
        state.info, state.nodes, state.lost_at, state.reported = info, new_nodes, None, True
        state.last_seen = self._monotonic()
        return changed

    def take_changed_nodes(self) -> set[str]:
        """The node keys whose reports changed since the last call: a cycle looks at their groups
        first (a primary's death reported is a failover to decide before anything else)."""
        changed, self._changed_nodes, self.urgent = self._changed_nodes, set(), False
        return changed

    def observe_node(self, host_id: str, node: agent_pb.NodeState) -> None:
        """An agent's answer to EnsureNode is as good as a heartbeat for that node."""
        state = self.hosts.get(host_id)
        if state is not None:
            state.nodes[node.node_key] = node

    def forget_node(self, host_id: str, node_key: str) -> None:
        state = self.hosts.get(host_id)
        if state is not None:
            state.nodes.pop(node_key, None)

    def newly_lost(self) -> list[HostState]:
        """Mark hosts silent for longer than the timeout as lost; return those just lost."""
        self._judging()
        now = self._monotonic()
        timeout = self.host_timeout
        lost = []
        for state in self.hosts.values():
            if not state.lost and now - state.last_seen > timeout and now > state.granted_until:
                state.lost_at = now
                self.version += 1
                lost.append(state)
        return lost

    def lost_for(self) -> dict[str, float]:
        """host id -> seconds since each lost host was declared lost."""
        now = self._monotonic()
        return {h.host_id: now - h.lost_at for h in self.hosts.values() if h.lost_at is not None}

    def live(self) -> list[HostState]:
        return [h for h in self.hosts.values() if not h.lost]

    def has_reported(self, host_id: str | None) -> bool:
        """Live and heard from since this coordinator started: its node list is current."""
        state = self.hosts.get(host_id or "")
        return state is not None and not state.lost and state.reported

    def is_live(self, host_id: str | None) -> bool:
        state = self.hosts.get(host_id or "")
        return state is not None and not state.lost


def _nodes_differ(old: dict[str, agent_pb.NodeState], new: dict[str, agent_pb.NodeState]) -> bool:
    if old.keys() != new.keys():
        return True
    return any(_significant(old[k]) != _significant(new[k]) for k in new)


def _log_reported(host_id: str, old: dict[str, agent_pb.NodeState], new: dict[str, agent_pb.NodeState],
                  moved: list[str]) -> None:
    """One line per node whose report changed in a way the reconciler acts on (moved, those new
    to the host aside): when the coordinator heard of an engine's death or a replica's broken
    link (a failover's timeline)."""
    for key in moved:
        if key not in old:
            continue
        node = new[key]
        info = node.replication
        log.info("node report changed", host_id=host_id, node_key=key, status=agent_pb.NodeStatus.Name(node.status),
                 role=agent_pb.Role.Name(info.role), link_status=agent_pb.LinkState.Name(info.link_status),
                 primary_sight=agent_pb.PrimarySight.Name(info.primary_sight))


def _significant(node: agent_pb.NodeState) -> tuple:
    """What a change of wakes the reconciler at once (a replica's broken link is what a
    failover waits for); offsets alone move with every write and do not."""
    info = node.replication
    return (node.status, node.restarts, node.spec.reboot_generation, node.pid, node.fenced,
            info.role, info.link_status, info.sync_in_progress, info.run_id, info.primary_sight)


def _worse(old: agent_pb.NodeState, new: agent_pb.NodeState) -> bool:
    """What a failover is decided on got worse: a primary's engine stopped serving, or a replica
    lost sight of its primary (refused: nothing listens; silent: no answer). A replica's link
    going down alone is not enough: it does so whenever it is re-pointed (a planned switch)."""
    if new.replication.role == agent_pb.ROLE_PRIMARY:
        return old.status == agent_pb.NODE_STATUS_AVAILABLE and new.status != agent_pb.NODE_STATUS_AVAILABLE
    lost = (agent_pb.PRIMARY_SIGHT_REFUSED, agent_pb.PRIMARY_SIGHT_SILENT)
    return new.replication.role == agent_pb.ROLE_REPLICA and new.replication.primary_sight in lost \
        and old.replication.primary_sight not in lost


def _info_differs(old: agent_pb.HostInfo, new: agent_pb.HostInfo) -> bool:
    fields = ("address", "agent_endpoint", "availability_zone", "memory_mb", "agent_instance_id")
    return any(getattr(old, f) != getattr(new, f) for f in fields) or list(old.engines) != list(new.engines) \
        or list(old.stores) != list(new.stores)
