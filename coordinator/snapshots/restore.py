"""Warm starts: what a new cluster's first node is filled from, and the agent call that does it.

A cluster created from a snapshot (or from a user's RDB object) records `restore` =
{source, url, key, sha256, engine_version, done}. Before its data node is first started the
reconciler asks that node's agent to download the object into the node's data directory
and check it; only then is the node started, and it loads the file. A refused file marks
the cluster `restore-failed` with the agent's reason, and no engine is ever started on it.
"""
from __future__ import annotations

import asyncio

import grpc
import structlog

from cachefleet.v1 import node_agent_pb2 as agent_pb

from ..agents import AgentClients
from ..model import Cluster, ClusterStatus, NodeStatus
from .model import SnapshotRepo, SnapshotStatus
from .storage import SnapshotStorage

log = structlog.get_logger("snapshots.restore")
RETRY_SECONDS = 1.0

RESTORE_TIMEOUT = 6 * 3600.0
# Codes with which an agent refuses the file itself; anything else is retried next cycle.
REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL)


def pending(cluster: Cluster) -> bool:
    return bool(cluster.restore) and not cluster.restore.get("done")


async def restore_node(agents: AgentClients, storage: SnapshotStorage, endpoint: str, cluster: Cluster,
                       node_id: str, engine_version: str) -> tuple[bool, str]:
    """(restored, refusal): (True, '') when the data is in place; (False, reason) when the
    agent refused the object; (False, '') when it should be tried again."""
    spec = cluster.restore
    request = agent_pb.RestoreNodeDataRequest(
        node_key=cluster.node_key(node_id), store_url=spec["url"], key=spec["key"], sha256=spec.get("sha256", ""),
        store=storage.agent_options(), engine="redis", engine_version=engine_version)
    try:
        await agents.restore_node_data(endpoint, request, RESTORE_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in REFUSALS:
            return False, exc.details() or exc.code().name
        return False, ""
    return True, ""


async def restore_and_record(agents: AgentClients, storage: SnapshotStorage, repo, events, endpoint: str,
                             cluster: Cluster, node_id: str, engine_version: str) -> None:
    """Restore one node's data; record `done` (the reconciler then starts it) or the refusal
    (the cluster becomes restore-failed and never starts)."""
    restored, refusal = await restore_node(agents, storage, endpoint, cluster, node_id, engine_version)
    if not restored and not refusal:
        log.warning("restore not done; will retry", cluster_id=cluster.cluster_id, node_id=node_id)
        await asyncio.sleep(RETRY_SECONDS)
        return
    source = cluster.restore.get("source", "")

    def record(c: Cluster) -> bool:
        if not pending(c):
            return False
        if restored:
            c.restore = {**c.restore, "done": True}
        else:
            c.restore = {**c.restore, "error": refusal}
            c.status = ClusterStatus.RESTORE_FAILED
            if node_id in c.nodes:
                c.nodes[node_id].status, c.nodes[node_id].message = NodeStatus.FAILED, refusal[:500]
        return True
    await repo.mutate(cluster.cluster_id, record)
    if restored:
        await events.record("cache-cluster", cluster.cluster_id, f"Restored cache node {node_id} from {source}")
    else:
        await events.record("cache-cluster", cluster.cluster_id,
                            f"Restore from {source} failed; no cache node was started: {refusal[:500]}")


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
