"""Warm starts: what a new cluster's first node is filled from, and the agent call that does it.

A cluster created from a snapshot (or from a user's RDB object) records where from in
`restore` (a RestoreSource). Before its data node is first started the
reconciler asks that node's agent to download the object into the node's data directory
and check it; only then is the node started, and it loads the file. A refused file marks
the cluster `restore-failed` with the agent's reason, and no engine is ever started on it.
"""
from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.reconcile.agents import AgentClients
from coordinator.domain.model import Cluster, ClusterStatus, NodeStatus, RestoreSource
from coordinator.snapshots.model import SnapshotRepo, SnapshotStatus
from coordinator.snapshots.storage import SnapshotStorage

log = structlog.get_logger("snapshots.restore")
RETRY_SECONDS = 1.0

RESTORE_TIMEOUT = 6 * 3600.0
RESTORE_ATTEMPTS = 3      # an agent's INTERNAL (download or disk failed) is final after this many


@dataclass(frozen=True)
class Outcome:
    restored: bool
    reason: str = ""      # why not
    final: bool = False   # the agent refused the object itself: no retry can help
    counted: bool = False  # a failure of the agent's (INTERNAL): final after RESTORE_ATTEMPTS


def pending(cluster: Cluster) -> bool:
    return cluster.restore is not None and not cluster.restore.done


async def restore_node(agents: AgentClients, storage: SnapshotStorage, endpoint: str, node_key: str,
                       spec: RestoreSource, engine_version: str) -> Outcome:
    """Ask the node's agent to put the object in place. INVALID_ARGUMENT / NOT_FOUND refuse the
    object itself; INTERNAL may pass another time; anything else (unreachable) is retried."""
    request = agent_pb.RestoreNodeDataRequest(
        node_key=node_key, store=storage.name, key=spec.key, sha256=spec.sha256, engine="redis",
        engine_version=engine_version)
    try:
        await agents.restore_node_data(endpoint, request, RESTORE_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        reason = exc.details() or exc.code().name
        return Outcome(False, reason, final=exc.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                                           grpc.StatusCode.NOT_FOUND),
                       counted=exc.code() == grpc.StatusCode.INTERNAL)
    return Outcome(True)


async def restore_and_record(agents: AgentClients, storage: SnapshotStorage, repo, events, endpoint: str,
                             cluster: Cluster, node_id: str, engine_version: str) -> None:
    """Restore one node's data; record `done` (the reconciler then starts it) or, once the
    failure is final, the refusal (the cluster becomes restore-failed and never starts)."""
    spec = cluster.restore
    if spec is None:
        return
    outcome = await restore_node(agents, storage, endpoint, cluster.node_key(node_id), spec, engine_version)
    failures = spec.failures + (1 if outcome.counted else 0)
    if not outcome.restored and not outcome.final and failures < RESTORE_ATTEMPTS:
        log.warning("restore not done; will retry", cluster_id=cluster.cluster_id, node_id=node_id,
                    error=outcome.reason, failures=failures)

        def count(c: Cluster) -> bool:
            if c.restore is None or c.restore.done:
                return False
            c.restore = dataclasses.replace(c.restore, failures=failures)
            return True
        if outcome.counted:
            await repo.mutate(cluster.cluster_id, count)
        await asyncio.sleep(RETRY_SECONDS * max(1, failures))
        return
    source = spec.source

    def record(c: Cluster) -> bool:
        if c.restore is None or c.restore.done:
            return False
        if outcome.restored:
            c.restore = dataclasses.replace(c.restore, done=True)
        else:
            c.restore = dataclasses.replace(c.restore, error=outcome.reason)
            c.status = ClusterStatus.RESTORE_FAILED
            if node_id in c.nodes:
                c.nodes[node_id].status, c.nodes[node_id].message = NodeStatus.FAILED, outcome.reason[:500]
        return True
    await repo.mutate(cluster.cluster_id, record)
    if outcome.restored:
        await events.record("cache-cluster", cluster.cluster_id, f"Restored cache node {node_id} from {source}")
    else:
        await events.record("cache-cluster", cluster.cluster_id,
                            f"Restore from {source} failed; no cache node was started: {outcome.reason[:500]}")


async def final_snapshot_pending(cluster: Cluster, snapshots: SnapshotRepo, repo, events) -> str:
    """What a deletion waits for ('' once the final snapshot is available or gone). A failed
    final snapshot stops the deletion of the cluster it was taken from: that cluster is
    available again (outside its group, if the group is being deleted), its data kept."""
    snapshot = await snapshots.get(cluster.final_snapshot)
    if snapshot is None or snapshot.status == SnapshotStatus.AVAILABLE:
        return ""
    if snapshot.status != SnapshotStatus.FAILED:
        return f"waiting for final snapshot {snapshot.name}"

    def keep(c: Cluster) -> bool:
        if c.status != ClusterStatus.DELETING or c.final_snapshot != snapshot.name:
            return False
        c.status, c.final_snapshot = ClusterStatus.AVAILABLE, ""
        c.replication_group_id = ""   # a deleted group's member stays, standalone, with the data
        return True
    await repo.mutate(cluster.cluster_id, keep)
    await events.record("cache-cluster", cluster.cluster_id,
                        f"Final snapshot {snapshot.name} failed, so cache cluster {cluster.cluster_id} was not "
                        f"deleted: {snapshot.reason[:500]}")
    return f"final snapshot {snapshot.name} failed; deletion stopped"


class Restorer:
    """What the cluster reconciler asks of backup and restore, bound to its collaborators."""

    def __init__(self, agents: AgentClients, storage: SnapshotStorage, snapshots: SnapshotRepo, repo, events) -> None:
        self.agents, self.storage, self.snapshots, self.repo, self.events = agents, storage, snapshots, repo, events

    def pending(self, cluster: Cluster) -> bool:
        return pending(cluster)

    async def restore(self, endpoint: str, cluster: Cluster, node_id: str, engine_version: str) -> None:
        await restore_and_record(self.agents, self.storage, self.repo, self.events, endpoint, cluster, node_id,
                                 engine_version)

    async def final_snapshot_pending(self, cluster: Cluster) -> str:
        return await final_snapshot_pending(cluster, self.snapshots, self.repo, self.events)
