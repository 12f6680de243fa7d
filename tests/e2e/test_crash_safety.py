"""The coordinator SIGKILLed at named points of create, modify and delete, then restarted,
converges to what was asked: no orphan engine, no half-made node, no lost cluster."""
from __future__ import annotations

import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import create, endpoint_of, serves_memcached
from tests.helpers.crash import crash_during
from tests.helpers.fleet import Fleet, wait_for


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("crash"), hosts=3).start()
    yield f
    f.discard()


def assert_converged(fleet: Fleet) -> None:
    """Every cluster available, each node serving under its name, one engine per node, nothing else."""
    def settled():
        clusters = fleet.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(show_cache_node_info=True),
                                                    timeout=2).cache_clusters
        return all(c.cache_cluster_status == "available" for c in clusters) and (clusters,)   # none left is settled
    (clusters,) = wait_for(settled, 20, what="every cluster available")
    nodes = [(c, n) for c in clusters for n in c.cache_nodes]
    wait_for(lambda: len(fleet.all_engine_pids()) == len(nodes), 10,
             what=f"exactly {len(nodes)} engines on the fleet")
    for cluster, node in nodes:
        assert node.cache_node_status == "available"
        assert serves_memcached(endpoint_of(fleet, cluster, node.cache_node_id))


@pytest.mark.parametrize("point", ["create.after_store", "reconcile.after_ensure"])
def test_create_interrupted_by_a_crash_converges(fleet, point):
    cluster_id = "cr-" + point.replace(".", "-").replace("_", "-")
    crash_during(fleet, point, lambda: create(fleet, cluster_id, nodes=3))
    fleet.wait_status(cluster_id, "available", timeout=20)
    assert fleet.cluster(cluster_id).num_cache_nodes == 3
    assert_converged(fleet)


@pytest.mark.parametrize("point", ["modify.after_store", "reconcile.after_ensure"])
def test_growing_interrupted_by_a_crash_converges(fleet, point):
    cluster_id = "gr-" + point.replace(".", "-").replace("_", "-")
    create(fleet, cluster_id, nodes=1)
    fleet.wait_status(cluster_id, "available")
    crash_during(fleet, point, lambda: fleet.stub.ModifyCacheCluster(
        pb.ModifyCacheClusterRequest(cache_cluster_id=cluster_id, num_cache_nodes=3, apply_immediately=True),
        timeout=5))
    cluster = fleet.wait_status(cluster_id, "available", timeout=20)
    assert [n.cache_node_id for n in cluster.cache_nodes] == ["0001", "0002", "0003"]
    assert_converged(fleet)


@pytest.mark.parametrize("point", ["modify.after_store", "reconcile.after_remove_node"])
def test_shrinking_interrupted_by_a_crash_converges(fleet, point):
    cluster_id = "sh-" + point.replace(".", "-").replace("_", "-")
    create(fleet, cluster_id, nodes=3)
    fleet.wait_status(cluster_id, "available")
    crash_during(fleet, point, lambda: fleet.stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(
        cache_cluster_id=cluster_id, num_cache_nodes=1, cache_node_ids_to_remove=["0002", "0003"],
        apply_immediately=True), timeout=5))
    cluster = fleet.wait_status(cluster_id, "available", timeout=20)
    assert [n.cache_node_id for n in cluster.cache_nodes] == ["0001"]
    assert_converged(fleet)


@pytest.mark.parametrize("point", ["delete.after_store", "reconcile.after_remove_node"])
def test_delete_interrupted_by_a_crash_converges(fleet, point):
    cluster_id = "de-" + point.replace(".", "-").replace("_", "-")
    create(fleet, cluster_id, nodes=2)
    fleet.wait_status(cluster_id, "available")
    crash_during(fleet, point, lambda: fleet.stub.DeleteCacheCluster(
        pb.DeleteCacheClusterRequest(cache_cluster_id=cluster_id), timeout=5))
    fleet.wait_gone(cluster_id, timeout=20)
    wait_for(lambda: fleet.resolve(f"0001.{cluster_id}.cachefleet.test") == [], 2, what="names to go")
    assert_converged(fleet)
