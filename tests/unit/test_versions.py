"""Engine version rules (cachefleet.common.versions) and the agent's choice of binary by version."""
from __future__ import annotations

import pytest
from cachefleet.v1 import cache_control_pb2, node_agent_pb2

from cachefleet.common import versions
from nodeagent.engines import select_install


@pytest.mark.parametrize("a, b, major", [
    ("6.0.9", "7.0.15", True),      # X changes
    ("7.0.15", "7.2.4", True),      # Y changes
    ("7.0.11", "7.0.15", False),    # Z only
    ("7.0.15", "7.0.15", False),
    ("7.0.15", "6.0.9", True),      # either way
    ("1.6.18", "1.6.21", False),
])
def test_a_change_of_x_or_y_is_major_and_of_z_minor(a, b, major):
    assert versions.is_major_change(a, b) is major


@pytest.mark.parametrize("engine, version, family", [
    ("redis", "6.0.9", "redis6.0"), ("redis", "7.0.15", "redis7.0"),
    ("memcached", "1.6.18", "memcached1.6"), ("redis", "7.0", "redis7.0"), ("redis", "7", "redis7.0"),
])
def test_family_is_the_engine_and_major_minor(engine, version, family):
    assert versions.family(engine, version) == family


def test_versions_order_numerically_and_a_release_after_its_candidates():
    assert versions.newest(["6.0.9", "7.0.15", "7.0.9", "6.2.14"]) == "7.0.15"
    assert versions.newest(["7.0.10", "7.0.9"]) == "7.0.10"        # not string order
    assert versions.newest(["7.0.0", "7.0.0-rc1"]) == "7.0.0"
    assert versions.newest(["not-a-version", "1.6.18"]) == "1.6.18"
    assert versions.newest([]) is None
    assert versions.compare("6.0.9", "7.0.15") == -1 and versions.compare("7.0.15", "7.0.15") == 0
    assert versions.is_upgrade("6.0.9", "7.0.15") and versions.is_downgrade("7.0.15", "6.0.9")
    assert not versions.is_upgrade("7.0.15", "7.0.15")


def test_a_prefix_stands_for_the_newest_version_under_it_on_a_dot():
    installed = {"6.0.9", "7.0.11", "7.0.15", "7.2.4"}
    assert versions.resolve("6.0", installed) == "6.0.9"
    assert versions.resolve("7.0", installed) == "7.0.15"
    assert versions.resolve("7", installed) == "7.2.4"
    assert versions.resolve("", installed) == "7.2.4"
    assert versions.resolve("7.0.11", installed) == "7.0.11"
    assert versions.resolve("7.0.1", installed) is None          # 7.0.1 is not a prefix of 7.0.15
    assert versions.resolve("6.2", installed) is None


@pytest.mark.parametrize("text, ok", [
    ("7.0.15", True), ("7.0", True), ("7", True), ("7.0.0-rc1", True),
    ("", False), ("7.", False), ("v7.0", False), ("7.0.15.1", False), ("latest", False), ("7 .0", False),
])
def test_what_looks_like_a_version(text, ok):
    assert versions.valid(text) is ok
    if not ok and text:
        with pytest.raises(ValueError):
            versions.parse(text)


INSTALLS = [
    cache_control_pb2.EngineInstall(engine="redis", version="7.0.15", path="/usr/bin/redis-server"),
    cache_control_pb2.EngineInstall(engine="memcached", version="1.6.18", path="/usr/bin/memcached"),
    cache_control_pb2.EngineInstall(engine="redis", version="6.0.9", path="/opt/cachefleet/redis-6.0.9/redis-server"),
    cache_control_pb2.EngineInstall(engine="redis", version="7.0.11", path="/opt/redis-7.0.11/redis-server"),
]


def test_the_agent_runs_the_binary_of_the_version_the_spec_names():
    assert select_install(INSTALLS, "redis", "6.0.9").path == "/opt/cachefleet/redis-6.0.9/redis-server"
    assert select_install(INSTALLS, "redis", "6.0").path == "/opt/cachefleet/redis-6.0.9/redis-server"
    assert select_install(INSTALLS, "redis", "7.0.11").path == "/opt/redis-7.0.11/redis-server"
    # a prefix, or no version, is the newest install under it, whatever the discovery order
    assert select_install(INSTALLS, "redis", "7.0").path == "/usr/bin/redis-server"
    assert select_install(list(reversed(INSTALLS)), "redis", "").path == "/usr/bin/redis-server"
    assert select_install(INSTALLS, "redis", "6.2") is None
    assert select_install(INSTALLS, "memcached", "").version == "1.6.18"


def test_the_redis_probe_asks_what_6_0_answers_one_info_section_at_a_time():
    from nodeagent.engines import redis as redis_engine
    assert all(len(command) <= 2 for command in redis_engine.PROBE if command[0] == "INFO")
    replies = ["PONG", "# Server\r\nredis_version:6.0.9\r\nrun_id:abc\r\n",
               "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\n"
               "master_link_status:up\r\nslave_repl_offset:42\r\nmaster_last_io_seconds_ago:0\r\n"
               "master_sync_in_progress:0\r\nconnected_slaves:0\r\n",
               "# Stats\r\nsync_full:0\r\n",
               "# Persistence\r\nloading:0\r\naof_enabled:1\r\n",
               "# Keyspace\r\ndb0:keys=12,expires=0,avg_ttl=0\r\ndb3:keys=3,expires=1,avg_ttl=5\r\n",
               ["min-replicas-to-write", "0", "min-replicas-max-lag", "1"]]
    assert len(replies) == len(redis_engine.PROBE)
    result = redis_engine.judge(replies)
    info = result.replication
    assert (info.role, info.link_status, info.offset, info.primary_host, info.run_id) == \
        (node_agent_pb2.ROLE_REPLICA, node_agent_pb2.LINK_STATE_UP, 42, "10.0.0.1", "abc")
    assert (result.data.aof_enabled, result.data.keys) == (True, 15)     # every database counts
