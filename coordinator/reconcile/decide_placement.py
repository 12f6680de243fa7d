"""Where to re-create nodes whose host is lost (or that never found one), as a function of
the live hosts' capacity and the other clusters' nodes.

A replication group's members go on different hosts (and their preferred zones) when the
fleet allows it, and on any host with room rather than nowhere when it does not.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster, Node, NodeStatus
from coordinator.domain.placement import HostView, Slot, account_usage, place_nodes
from coordinator.reconcile.decide_clusters import is_standalone_redis


@dataclass(frozen=True)
class Recovery:
    """Where each homeless node goes (`placed`), and why the others have no host (`failed`).
    `was_failed` holds the nodes already recorded as failed: they are not announced again.
    `data_lost`: node id -> (its lost host, seconds lost) for standalone redis nodes placed
    anew, whose data stayed on that host: their re-creation empty is said plainly."""
    cluster: Cluster
    placed: Mapping[str, Slot] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    was_failed: frozenset[str] = frozenset()
    data_lost: Mapping[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def sentences(self) -> list[str]:
        key = self.cluster.node_key
        return [f"placed {key(n)} on {slot.host.host_id}" for n, slot in sorted(self.placed.items())] \
            + [f"no host for {key(n)}" for n in sorted(self.failed) if n not in self.was_failed]

    @property
    def sentence(self) -> str:
        return "; ".join(self.sentences)

    @property
    def events(self) -> tuple[str, ...]:
        return tuple([f"Recovering cache nodes {n} on host {slot.host.host_id}"
                      for n, slot in sorted(self.placed.items())]
                     + [f"Cache node {n} could not be recovered: {why}"
                        for n, why in sorted(self.failed.items()) if n not in self.was_failed]
                     + [f"Cache node {n} re-created empty on host {self.placed[n].host.host_id}: its data was "
                        f"only on host {old_host}, lost {seconds:.0f} s ago, and is not recovered"
                        for n, (old_host, seconds) in sorted(self.data_lost.items())])


def plan_recovery(cluster: Cluster, clusters: Sequence[Cluster], homeless: Sequence[Node],
                  views: Mapping[str, HostView], lost_for: Mapping[str, float] | None = None) -> Recovery:
    """A host for each homeless node of `cluster`. `views` are the live hosts with every
    other cluster's usage charged (they are charged further here: pass copies); `lost_for`
    says how long each lost host has been lost.

    Each node tries, in turn: its own zone (if preferred) on a host without another member
    of its group, then its zone on any host, then any zone on any host."""
    others = Cluster.from_dict(cluster.to_dict())
    for node in homeless:
        others.nodes.pop(node.node_id)
    account_usage(dict(views), [others])
    # Spread over the hosts of the group's other members too (not charged twice: they
    # are in `views` already), preferring a host that has none of them.
    for member in clusters:
        if cluster.replication_group_id and member.replication_group_id == cluster.replication_group_id \
                and member.cluster_id != cluster.cluster_id:
            for n in member.nodes.values():
                others.nodes[f"{member.cluster_id}/{n.node_id}"] = Node(n.node_id, host_id=n.host_id, zone=n.zone)
    placed: dict[str, Slot] = {}
    failed: dict[str, str] = {}
    for node in homeless:
        zone: list[str | None] = [node.zone] if node.zone in cluster.preferred_zones else [None]
        attempts: list[tuple[list[str | None], bool]] = [(zone, True), (zone, False), ([None], False)]
        slot: Slot | None = None
        why = ""
        for zones, distinct in attempts:
            try:
                (slot,) = place_nodes(list(views.values()), others, 1, zones, cluster.port, distinct)
                break
            except ApiError as exc:
                why = exc.message
        if slot is None:
            failed[node.node_id] = why
            continue
        others.nodes[node.node_id] = Node(node.node_id, host_id=slot.host.host_id, zone=slot.host.zone,
                                          address=slot.address)
        placed[node.node_id] = slot
    was_failed = frozenset(n.node_id for n in cluster.nodes.values() if n.status == NodeStatus.FAILED)
    lost_for = lost_for or {}
    data_lost = {n.node_id: (n.host_id, lost_for[n.host_id]) for n in homeless
                 if is_standalone_redis(cluster) and n.node_id in placed
                 and n.host_id is not None and n.host_id in lost_for}
    return Recovery(cluster, placed, failed, was_failed, data_lost)
