"""Stored records: a state directory written before pending, move and restore were typed still loads."""
import asyncio

from coordinator.domain.changes import ClusterChange
from coordinator.domain.model import (Cluster, NodeMove, PendingChanges, ReplicationGroup, RestoreSource,
                                      cluster_key, group_key)
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.state.store import SqliteStore

CLUSTER = {"cluster_id": "c1", "engine": "redis", "engine_version": "7.0.15", "node_type": "cache.t1.micro",
           "port": 6400, "status": "available", "nodes": {}}
GROUP = {"group_id": "g1", "description": "", "primary": "g1-001", "members": ["g1-001"], "status": "available"}


def run(coro):
    return asyncio.run(coro)


def test_records_written_with_plain_dicts_load_as_the_same_values(tmp_path):
    restore = {"source": "nightly", "url": "s3://b/p", "key": "nightly/0001.rdb", "sha256": "ab" * 32,
               "rdb_checked": True, "engine_version": "7.0.15", "done": False, "node_type": "cache.m1.small",
               "failures": 1}
    records = {
        cluster_key("c1"): {**CLUSTER, "pending": {"num_cache_nodes": 1, "cache_node_ids_to_remove": ["0002"]},
                            "move": {"host_id": "h2", "zone": "z2", "address": "10.0.0.2"}, "restore": restore},
        cluster_key("c2"): {**CLUSTER, "cluster_id": "c2", "pending": {}, "move": {}, "restore": {}},
        cluster_key("c3"): {**CLUSTER, "cluster_id": "c3",                # a user's RDB object, refused
                            "restore": {"source": "arn:aws:s3:::b/k.rdb", "url": "s3://b", "key": "k.rdb",
                                        "sha256": "", "engine_version": "", "done": False, "error": "bad RDB"}},
        group_key("g1"): {**GROUP, "pending": {"engine_version": "7.2.4", "cache_node_type": "cache.m1.small"}},
    }

    async def scenario():
        store = SqliteStore(tmp_path / "state.db")
        for key, value in records.items():
            await store.put(key, value)
        clusters = {c.cluster_id: c for c in await ClusterRepo(store).all()}
        group = await GroupRepo(store).get("g1")
        return clusters, group

    clusters, group = run(scenario())
    c1, c2, c3 = clusters["c1"], clusters["c2"], clusters["c3"]
    assert c1.pending == PendingChanges(num_cache_nodes=1, cache_node_ids_to_remove=["0002"])
    assert ClusterChange.from_pending(c1.pending) == ClusterChange(1, ["0002"])
    assert c1.move == NodeMove("h2", "z2", "10.0.0.2")
    # an older record's store URL and rdb_checked are dropped: the store is the agents' by name
    # now, and every restore is checked
    assert c1.restore == RestoreSource("nightly", "nightly/0001.rdb", "ab" * 32, "7.0.15", "cache.m1.small",
                                       failures=1)
    assert (bool(c2.pending), c2.move, c2.restore) == (False, None, None)
    assert c3.restore is not None and c3.restore.error == "bad RDB" and c3.restore.key == "k.rdb"
    assert group.pending == PendingChanges(engine_version="7.2.4", cache_node_type="cache.m1.small")
    for record in records.values():   # written back, each record keeps the keys it was stored with
        decoded = (ReplicationGroup if "group_id" in record else Cluster).from_dict(record).to_dict()
        for field in ("pending", "move"):
            if field in record:
                assert decoded[field] == record[field]
    assert {k: v for k, v in c1.to_dict()["restore"].items() if k in restore} == {
        k: v for k, v in restore.items() if k not in ("url", "rdb_checked")}


def test_pending_changes_are_stored_with_only_what_waits():
    assert PendingChanges().to_dict() == {} and not PendingChanges()
    change = ClusterChange(num_cache_nodes=3, zones=["z1"])
    assert change.to_pending().to_dict() == {"num_cache_nodes": 3, "zones": ["z1"]}
    assert ClusterChange.from_pending(change.to_pending()) == change
    assert PendingChanges(engine_version="7.2.4")
