"""Cache security groups, the coordinator's half: every live host told its whole firewall.

Each reconciler cycle computes, for every live host, every port it guards and who may
connect to each (decide_firewall.py) and sends it as one SetFirewall when it differs from
what that agent instance last took. An agent that cannot enforce it (no nft, not root, no
CAP_NET_ADMIN) says so; the host then gets an event saying its caches are NOT protected,
once for each new reason, and another once it enforces them again: never silence.

A security group change also wakes a loop of its own (`run`), which pushes at once from the
records: a cycle held up by a slow agent call does not hold up who may connect. Pushes are
worked out one at a time and sent to each host in that order, so an older rule set never lands
after a newer one; a push to some hosts does not wait on another's calls to other hosts.
"""
from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.model import Cluster
from coordinator.reconcile.agents import AgentClients
from coordinator.reconcile.decide_firewall import fleet_sources, ports_by_host
from coordinator.reconcile.host_push import LevelPush
from coordinator.state.events import EventLog
from coordinator.state.registry import HostRegistry, HostState
from coordinator.state.repos import ClusterRepo, SecurityGroupRepo

log = structlog.get_logger("firewall")


class Firewall:
    def __init__(self, clusters: ClusterRepo, groups: SecurityGroupRepo, registry: HostRegistry,
                 agents: AgentClients, events: EventLog, clock: Callable[[], float] = time.monotonic) -> None:
        self.clusters = clusters
        self.groups = groups
        self.registry = registry
        self.agents = agents
        self.events = events
        self.pushes = LevelPush(clock)
        self._clusters: dict[str, Cluster] = {}  # as the last cycle read them
        self._lock = asyncio.Lock()                       # pushes work out their requests in turn
        self._sending: dict[str, asyncio.Future[str]] = {}  # and send them in that order: each host's last
        self._fleet_sources: tuple[int, list[str]] = (-1, [])
        self._placed: dict[str, set[str]] = {}   # host id -> ids of the clusters with a node there (or once)
        # (clusters list, store writes, hosts version) of the last full push (run_cycle)
        self._last_inputs: tuple[list[Cluster], int, int] | None = None
        self._wake = asyncio.Event()

    async def run_cycle(self, clusters: list[Cluster]) -> list[str]:
        """Every live host's firewall from `clusters`. A cycle that passes the very list it passed
        last time, with no store write (security groups) or host change since and no push left
        to retry, has nothing new to send and skips the work (at 2,000 hosts, 0.4 s of it)."""
        inputs = (clusters, self.clusters.store.writes, self.registry.version)
        last = self._last_inputs
        if last is not None and last[0] is inputs[0] and last[1:] == inputs[1:] and not self.pushes.retrying():
            return []
        self._clusters = {c.cluster_id: c for c in clusters}
        self._placed = {}
        for cluster in clusters:
            self._index(cluster)
        actions = await self._push({h.host_id for h in self.registry.live()})
        self._last_inputs = inputs
        return actions

    async def guard(self, cluster: Cluster) -> list[str]:
        """Before its nodes are started: the hosts the cluster is (now) placed on guard its port,
        so an engine started on a new host is never open to everyone, not even for a cycle."""
        self._last_inputs = None   # what was pushed is no longer what the last list says
        self._clusters[cluster.cluster_id] = cluster
        self._index(cluster)
        return await self._push({n.host_id for n in cluster.nodes.values() if n.host_id})

    def wake(self) -> None:
        """A security group changed: push now, beside the reconciler's cycle."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                actions = await self.run_cycle(await self.clusters.all())
            except Exception:  # noqa: BLE001 - the next wake, or the next cycle, tries again
                log.exception("firewall push failed")
                continue
            if actions:
                log.info("firewall pushed", actions="; ".join(actions))

    async def _push(self, host_ids: set[str]) -> list[str]:
        """Work out what each of the hosts is to have, in turn with other pushes, then send it
        to all of them at once. A host's sends go out in the order their requests were worked
        out (each waits for the one before it to that host), so an older rule set never lands
        after a newer one; pushes to other hosts do not wait on each other's agent calls."""
        async with self._lock:
            groups = await self.groups.by_name()
            clusters: Iterable[Cluster] = self._clusters.values()
            if len(host_ids) < len(self.registry.hosts):   # a few hosts: only the clusters placed there
                clusters = [self._clusters[i] for i in set().union(*(self._placed.get(h, ()) for h in host_ids))
                            if i in self._clusters]
            wanted = ports_by_host(clusters, groups)
            sources = self._sources()
            sends = []
            for host in self.registry.live():
                if host.host_id not in host_ids:
                    continue
                ports = [agent_pb.FirewallPort(address=p.address, port=p.port, cidrs=p.cidrs,
                                               cache_cluster_id=p.cluster_id) for p in wanted.get(host.host_id, [])]
                request = agent_pb.SetFirewallRequest(ports=ports, fleet_sources=sources if ports else [])
                send = asyncio.ensure_future(self._send_in_turn(host, request, self._sending.get(host.host_id)))
                self._sending[host.host_id] = send
                send.add_done_callback(functools.partial(self._sent, host.host_id))
                sends.append(send)
        return [a for a in await asyncio.gather(*sends) if a]

    async def _send_in_turn(self, host: HostState, request: agent_pb.SetFirewallRequest,
                            before: asyncio.Future[str] | None) -> str:
        if before is not None:
            await asyncio.wait([before])   # done, failed or cancelled: this one goes next
        sent = self.pushes.due(host, request)   # against what the host took last, now
        return await self._push_one(host, request, sent) if sent is not None else ""

    def _sent(self, host_id: str, send: asyncio.Future[str]) -> None:
        if self._sending.get(host_id) is send:
            del self._sending[host_id]

    def _index(self, cluster: Cluster) -> None:
        """Note which hosts the cluster has nodes on. A host it left keeps the entry: a push
        there works the cluster out again and finds no port of it, which is what it must send."""
        for node in cluster.nodes.values():
            if node.host_id:
                self._placed.setdefault(node.host_id, set()).add(cluster.cluster_id)

    def _sources(self) -> list[str]:
        """The fleet's addresses as ranges, worked out again only when the hosts changed."""
        if self._fleet_sources[0] != self.registry.version:
            self._fleet_sources = (self.registry.version, fleet_sources(
                a for h in self.registry.hosts.values() for a in [h.info.address, *h.info.extra_addresses] if a))
        return self._fleet_sources[1]

    async def _push_one(self, host: HostState, request: agent_pb.SetFirewallRequest, sent: tuple[str, bytes]) -> str:
        host_id = host.host_id
        try:
            reply = await self.agents.set_firewall(host.info.agent_endpoint, request)
        except grpc.aio.AioRpcError as exc:
            self.pushes.failed(host_id)
            if exc.code() is grpc.StatusCode.UNAVAILABLE:
                log.warning("firewall push failed", host_id=host_id, error=exc.details())
                return ""
            return await self._not_enforced(host_id, exc.details() or exc.code().name)
        self.pushes.taken(host_id, sent)
        was = self.registry.firewall.get(host_id)
        self.registry.firewall[host_id] = ""
        if was:
            await self.events.record("host", host_id, "Cache security groups are enforced again on this host")
        if not request.ports:
            return f"firewall cleared on {host_id}"
        cut = f", {reply.connections_cut} connection(s) cut" if reply.connections_cut else ""
        return f"firewall set on {host_id} ({len(request.ports)} port(s){cut})"

    async def _not_enforced(self, host_id: str, why: str) -> str:
        log.error("cache security groups NOT enforced", host_id=host_id, error=why)
        if self.registry.firewall.get(host_id) != why:
            self.registry.firewall[host_id] = why
            await self.events.record("host", host_id, f"Cache security groups are NOT enforced on this host: {why}")
        return f"firewall on {host_id} NOT enforced: {why}"
