"""Redis persistence as ElastiCache has it: a parameter group with appendonly yes makes a
standalone node keep every acknowledged write through a SIGKILL of its engine and through a
stop and start of the whole fleet; a snapshot of such a node still restores with its data; and
the restart's event says what came back."""
from __future__ import annotations

import os
import re
import signal

import pytest
import redis

from cachefleet.v1 import cache_control_pb2 as pb
from tests.helpers.clusters import a_reconcile_cycle_passes, appendonly_group, create, endpoint_of
from tests.helpers.fleet import Fleet, wait_for

KEYS = 500


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path, hosts=1).start()
    yield f
    f.discard()


def aof_group(fleet: Fleet, name: str = "aof") -> str:
    """A parameter group with the AOF on, fsynced at every write: a write acknowledged is on disk."""
    return appendonly_group(fleet, "always", name)


def node_client(fleet: Fleet, cluster_id: str) -> redis.Redis:
    cluster = fleet.wait_status(cluster_id, "available")
    return redis.Redis(*endpoint_of(fleet, cluster, "0001"), socket_timeout=2)


def write_keys(client: redis.Redis, prefix: str = "k") -> None:
    for i in range(KEYS):
        assert client.set(f"{prefix}{i}", i)      # acknowledged


def all_keys_back(client: redis.Redis, prefix: str = "k") -> bool:
    return client.mget([f"{prefix}{i}" for i in range(KEYS)]) == [str(i).encode() for i in range(KEYS)]


def serving_again(client: redis.Redis, old_pid: int) -> bool:
    try:
        return int(client.info("server")["process_id"]) != old_pid and client.ping()
    except redis.RedisError:
        return False


def test_a_parameter_groups_appendonly_wins_over_the_agents_command_line(fleet):
    create(fleet, "solo", engine="redis", cache_parameter_group_name=aof_group(fleet))
    client = node_client(fleet, "solo")
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.info("persistence")["aof_enabled"] == 1


def test_a_standalone_node_with_appendonly_keeps_every_acknowledged_key_through_a_sigkill(fleet):
    create(fleet, "solo", engine="redis", cache_parameter_group_name=aof_group(fleet))
    client = node_client(fleet, "solo")
    write_keys(client)
    pid = int(client.info("server")["process_id"])

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: serving_again(client, pid), 15, what="the engine started again")
    assert all_keys_back(client)
    host = fleet.cluster("solo").cache_nodes[0].host_id
    said = f"Cache node 0001 restarted on host {host} and reloaded its data from its append-only file ({KEYS} keys)"
    wait_for(lambda: said in fleet.events("solo"), 10, what="the restart event")


def test_a_redis_node_without_persistence_that_restarts_says_it_came_back_empty(fleet):
    create(fleet, "plain", engine="redis")
    client = node_client(fleet, "plain")
    write_keys(client)
    pid = int(client.info("server")["process_id"])

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: serving_again(client, pid), 15, what="the engine started again")
    assert client.dbsize() == 0
    host = fleet.cluster("plain").cache_nodes[0].host_id
    said = f"Cache node 0001 restarted empty on host {host}: its data was not persisted (appendonly is no)"
    wait_for(lambda: said in fleet.events("plain"), 10, what="the restart event")


def test_a_standalone_node_with_appendonly_keeps_every_acknowledged_key_through_a_fleet_restart(fleet):
    create(fleet, "solo", engine="redis", cache_parameter_group_name=aof_group(fleet))
    client = node_client(fleet, "solo")
    write_keys(client)
    pid = int(client.info("server")["process_id"])

    fleet.restart()
    client = node_client(fleet, "solo")
    wait_for(lambda: serving_again(client, pid), 15, what="the engine of the restarted fleet")
    assert all_keys_back(client)


def test_a_node_without_persistence_that_a_fleet_restart_empties_says_its_writes_are_lost_once(fleet):
    create(fleet, "plain", engine="redis")
    client = node_client(fleet, "plain")
    write_keys(client)
    pid = int(client.info("server")["process_id"])
    wait_for(lambda: fleet.hosts[0].noted_write_keys("plain-0001") == KEYS, 5, what="the agent to see the writes")

    fleet.restart()                 # the coordinator too: it never saw the engine before
    client = node_client(fleet, "plain")
    wait_for(lambda: serving_again(client, pid), 15, what="the engine of the restarted fleet")
    assert client.dbsize() == 0
    host = fleet.cluster("plain").cache_nodes[0].host_id
    said = re.compile(rf"Cache node 0001 restarted empty on host {host}: its data was not persisted \(appendonly "
                      r"is no\); every write it had acknowledged is lost \(its last write was at [-\d: ]+ UTC, "
                      r"when it held (\d+) keys\)")
    lost = wait_for(lambda: [m for e in fleet.events("plain") if (m := said.fullmatch(e))], 10,
                    what="the event saying the writes are lost")
    assert int(lost[0].group(1)) == KEYS

    fleet.kill_coordinator()        # a coordinator that starts now sees the same restart: said once
    fleet.start_coordinator()
    a_reconcile_cycle_passes(fleet)
    assert len([e for e in fleet.events("plain") if said.fullmatch(e)]) == 1


def test_a_snapshot_of_an_appendonly_node_restores_with_its_data_and_keeps_it_through_a_sigkill(fleet):
    group = aof_group(fleet)
    create(fleet, "source", engine="redis", cache_parameter_group_name=group)
    write_keys(node_client(fleet, "source"))
    fleet.stub.CreateSnapshot(pb.CreateSnapshotRequest(cache_cluster_id="source", snapshot_name="s1"), timeout=5)
    wait_for(lambda: fleet.stub.DescribeSnapshots(pb.DescribeSnapshotsRequest(snapshot_name="s1"), timeout=2)
             .snapshots[0].snapshot_status == "available", 30, what="the snapshot")

    create(fleet, "warm", engine="redis", snapshot_name="s1", cache_parameter_group_name=group)
    client = node_client(fleet, "warm")
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert all_keys_back(client)           # from the snapshot, though redis loads the AOF when it is on
    client.set("after-restore", "1")
    pid = int(client.info("server")["process_id"])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: serving_again(client, pid), 15, what="the restored engine started again")
    assert all_keys_back(client) and client.get("after-restore") == b"1"
