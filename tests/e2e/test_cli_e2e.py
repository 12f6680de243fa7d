"""The `cachefleet` CLI against a real fleet: aws-cli verbs, JSON shapes, --wait, errors."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import redis

from tests.helpers.agent import free_port
from tests.helpers.fleet import Fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("cli"), hosts=3).start()
    yield f
    f.discard()


def cachefleet(fleet: Fleet, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coordinator.cli", "--endpoint", fleet.endpoint, *args],
                          env=fleet.cli_env(), capture_output=True, text=True, timeout=60)


def test_a_memcached_cluster_through_the_cli(fleet):
    out = cachefleet(fleet, "create-cache-cluster", "--cache-cluster-id", "CliMc", "--engine", "memcached",
                     "--cache-node-type", "cache.t1.micro", "--num-cache-nodes", "2", "--wait")
    assert out.returncode == 0, out.stderr
    cluster = json.loads(out.stdout)["CacheCluster"]
    assert cluster["CacheClusterId"] == "climc" and cluster["CacheClusterStatus"] == "available"
    assert cluster["NumCacheNodes"] == 2 and isinstance(cluster["NumCacheNodes"], int)
    out = cachefleet(fleet, "describe-cache-clusters", "--cache-cluster-id", "climc", "--show-cache-node-info")
    nodes = json.loads(out.stdout)["CacheClusters"][0]["CacheNodes"]
    assert [n["CacheNodeId"] for n in nodes] == ["0001", "0002"]
    assert nodes[0]["Endpoint"]["Address"] == "0001.climc.cachefleet.test"
    out = cachefleet(fleet, "delete-cache-cluster", "--cache-cluster-id", "climc", "--wait")
    assert out.returncode == 0, out.stderr
    out = cachefleet(fleet, "describe-cache-clusters", "--cache-cluster-id", "climc")
    assert out.returncode == 254
    assert out.stderr.strip() == ("An error occurred (CacheClusterNotFound) when calling the DescribeCacheClusters "
                                  "operation: Cache cluster climc not found.")


def test_a_replication_group_through_the_cli(fleet):
    out = cachefleet(fleet, "create-replication-group", "--replication-group-id", "clirg",
                     "--replication-group-description", "from the CLI", "--num-cache-clusters", "2",
                     "--cache-node-type", "cache.t1.micro", "--automatic-failover-enabled", "--wait")
    assert out.returncode == 0, out.stderr
    group = json.loads(out.stdout)["ReplicationGroup"]
    assert group["Status"] == "available" and group["AutomaticFailover"] == "enabled"
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]
    assert primary["Address"] == "clirg.primary.cachefleet.test"
    (address,) = fleet.resolve(primary["Address"])
    redis.Redis(host=address, port=primary["Port"], socket_timeout=1).set("via-cli", 1)
    out = cachefleet(fleet, "test-failover", "--replication-group-id", "clirg", "--node-group-id", "0001", "--wait")
    assert out.returncode == 0, out.stderr
    members = json.loads(out.stdout)["ReplicationGroup"]["NodeGroups"][0]["NodeGroupMembers"]
    assert {m["CacheClusterId"]: m["CurrentRole"] for m in members} == {"clirg-001": "replica",
                                                                        "clirg-002": "primary"}
    out = cachefleet(fleet, "decrease-replica-count", "--replication-group-id", "clirg", "--new-replica-count", "0",
                     "--apply-immediately")
    assert out.returncode == 254 and "(InvalidParameterCombination)" in out.stderr
    out = cachefleet(fleet, "delete-replication-group", "--replication-group-id", "clirg", "--wait")
    assert out.returncode == 0, out.stderr

def test_the_console_script_never_shows_a_traceback():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "proto")]))
    for args, expected in (
        (["describe-cache-clusters", "--endpoint", f"127.0.0.1:{free_port()}"], 255),
        (["create-cache-cluster", "--num-cache-nodes", "x"], 252),
    ):
        result = subprocess.run([sys.executable, "-m", "coordinator.cli", *args], env=env,
                                capture_output=True, text=True, timeout=60, cwd="/")
        assert result.returncode == expected, result.stderr
        assert "Traceback" not in result.stderr

