"""The `cachefleet` CLI against a real fleet: aws-cli verbs, JSON shapes, --wait, errors; and aws-cli
itself, through the coordinator's Query API, printing what `cachefleet` prints."""
from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.agent import free_port
from tests.helpers.fleet import Fleet, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    query_api = f"127.0.0.1:{free_port()}"
    f = Fleet(tmp_path_factory.mktemp("cli"), hosts=3, coordinator_args=["--query-api-listen", query_api]).start()
    f.query_api = query_api
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



def aws(fleet: Fleet, key: dict, *args: str) -> subprocess.CompletedProcess:
    """aws-cli (PyPI awscli), unmodified, at the fleet's Query API with an access key of cachefleet's."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return subprocess.run(["aws", "elasticache", *args, "--endpoint-url", f"https://{fleet.query_api}",
                           "--ca-bundle", str(fleet.ca.coordinator().ca), "--region", "local"],
                          env=env, capture_output=True, text=True, timeout=60)


def _same_time(a: str, b: str) -> bool:
    try:
        return dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return False


def differences(theirs, ours, path: str = "") -> list[str]:
    """Where aws-cli's output differs from cachefleet's: every value aws-cli prints must be
    cachefleet's (which also prints its own fields: HostId, Port, ...)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return [d for key, value in theirs.items()
                for d in (differences(value, ours[key], f"{path}.{key}") if key in ours else [f"{path}.{key} extra"])]
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        return [d for i, (a, b) in enumerate(zip(theirs, ours)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if theirs == ours or _same_time(theirs, ours) else [f"{path}: {theirs!r} != {ours!r}"]


def test_aws_cli_through_the_query_api_prints_what_cachefleet_prints(fleet):
    out = cachefleet(fleet, "access-key", "create", "--role", "admin", "--user-name", "awscli")
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)["AccessKey"]
    assert key["AccessKeyId"].startswith("AKCF") and len(key["SecretAccessKey"]) == 40

    # memcached: created with aws-cli, described by both
    out = aws(fleet, key, "create-cache-cluster", "--cache-cluster-id", "awsmc", "--engine", "memcached",
              "--cache-node-type", "cache.t1.micro", "--num-cache-nodes", "2")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["CacheCluster"]["CacheClusterStatus"] == "creating"
    fleet.wait_status("awsmc", "available")
    words = ("describe-cache-clusters", "--cache-cluster-id", "awsmc", "--show-cache-node-info")
    theirs, ours = aws(fleet, key, *words), cachefleet(fleet, *words)
    assert theirs.returncode == 0, theirs.stderr
    assert differences(json.loads(theirs.stdout), json.loads(ours.stdout)) == []
    assert len(json.loads(theirs.stdout)["CacheClusters"][0]["CacheNodes"]) == 2

    # redis: a replication group, described by both
    out = aws(fleet, key, "create-replication-group", "--replication-group-id", "awsrg",
              "--replication-group-description", "from aws-cli", "--num-cache-clusters", "2",
              "--cache-node-type", "cache.t1.micro", "--engine", "redis", "--automatic-failover-enabled")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: json.loads(cachefleet(fleet, "describe-replication-groups", "--replication-group-id", "awsrg")
                                .stdout)["ReplicationGroups"][0]["Status"] == "available", 30, 0.2, "awsrg available")
    words = ("describe-replication-groups", "--replication-group-id", "awsrg")
    theirs, ours = aws(fleet, key, *words), cachefleet(fleet, *words)
    assert differences(json.loads(theirs.stdout), json.loads(ours.stdout)) == []
    assert json.loads(theirs.stdout)["ReplicationGroups"][0]["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == \
        "awsrg.primary.cachefleet.test"

    # a refusal reads the same from both, exit code and message
    words = ("describe-cache-clusters", "--cache-cluster-id", "nosuch")
    theirs, ours = aws(fleet, key, *words), cachefleet(fleet, *words)
    assert (theirs.returncode, ours.returncode) == (255, 254)   # aws-cli 1's code for a ClientError; 2's is 254
    assert theirs.stderr.strip() == ours.stderr.strip()

    out = aws(fleet, key, "delete-replication-group", "--replication-group-id", "awsrg")
    assert out.returncode == 0, out.stderr
    out = aws(fleet, key, "delete-cache-cluster", "--cache-cluster-id", "awsmc")
    assert out.returncode == 0, out.stderr
    events = fleet.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier="awsmc"), timeout=5).events
    assert {e.caller for e in events if e.caller} == {"spiffe://cachefleet/client/admin/awscli"}
    fleet.wait_gone("awsmc")
