"""The node agent's pure rules: status derivation, command lines, program files, validation.

Fast checks beside the real-process tests in test_nodeagent.py.
"""
from __future__ import annotations

import os
import pathlib
import shlex

import pytest
from cachefleet.v1 import cache_control_pb2, node_agent_pb2 as pb

from nodeagent.engines import ENGINES, ProbeResult, select_install
from nodeagent.errors import FailedPrecondition, InvalidArgument
from nodeagent.health import NodeStatus, derive_status
from nodeagent.layout import tail
from nodeagent.specs import validate
from nodeagent.supervisor import ProcessInfo, program_conf

OK = ProbeResult(ok=True, answered=True)
SILENT = ProbeResult(ok=False, answered=False, detail="connection refused")
LOADING = ProbeResult(ok=False, answered=True, detail="loading the dataset")
INSTALLS = [cache_control_pb2.EngineInstall(engine="memcached", version="1.6.18", path="/usr/bin/memcached"),
            cache_control_pb2.EngineInstall(engine="redis", version="7.0.15", path="/usr/bin/redis-server")]


def process(state: str, spawnerr: str = "") -> ProcessInfo:
    return ProcessInfo(name="n", state=state, pid=0 if state in ("FATAL", "STOPPED") else 42,
                       start=0, spawnerr=spawnerr, description="")


@pytest.mark.parametrize("state, probe, unhealthy_for, expected", [
    ("RUNNING", OK, 0, NodeStatus.AVAILABLE),
    ("STARTING", OK, 0, NodeStatus.AVAILABLE),
    ("BACKOFF", OK, 0, NodeStatus.STARTING),        # whoever answers, it is not our process
    ("RUNNING", SILENT, 1, NodeStatus.STARTING),
    ("RUNNING", SILENT, 5, NodeStatus.FAILED),
    ("RUNNING", LOADING, 60, NodeStatus.STARTING),  # a loading redis answers: not failed
    ("BACKOFF", SILENT, 1, NodeStatus.STARTING),
    ("BACKOFF", SILENT, 5, NodeStatus.FAILED),
    ("FATAL", SILENT, 0, NodeStatus.FAILED),
    ("STOPPED", SILENT, 60, NodeStatus.STOPPED),
    ("EXITED", SILENT, 0, NodeStatus.STARTING),     # autorestart is about to start it again
])
def test_status_follows_process_state_and_probe(state, probe, unhealthy_for, expected):
    status, _ = derive_status(process(state), probe, unhealthy_for, 3.0, lambda: "")
    assert status is expected


def test_a_failed_node_says_why_with_the_engine_log():
    status, message = derive_status(process("FATAL", "Exited too quickly"), SILENT, 0, 3.0,
                                    lambda: "failed to listen: Address already in use")
    assert status is NodeStatus.FAILED
    assert "Exited too quickly" in message and "Address already in use" in message
    assert derive_status(None, SILENT, 0, 3.0, lambda: "")[0] is NodeStatus.STOPPED


def test_redis_command_puts_parameters_after_the_engine_defaults():
    spec = pb.NodeSpec(node_key="r-1", engine="redis", port=6400, max_memory_mb=100,
                       parameters={"maxmemory-policy": "allkeys-lru", "save": "900 1"})
    argv = ENGINES["redis"].command("/usr/bin/redis-server", spec, "127.0.1.1", pathlib.Path("/d"))
    assert argv[:5] == ["/usr/bin/redis-server", "--bind", "127.0.1.1", "--port", "6400"]
    assert argv[argv.index("--maxmemory") + 1] == "100mb"
    assert argv.index("--maxmemory-policy") < len(argv) - 4
    assert argv[-4:] == ["--maxmemory-policy", "allkeys-lru", "--save", "900 1"]


def test_memcached_command_runs_as_root_only_when_root():
    spec = pb.NodeSpec(node_key="m-1", engine="memcached", port=11211, max_memory_mb=64,
                       parameters={"max_item_size": "2m"})
    argv = ENGINES["memcached"].command("/usr/bin/memcached", spec, "127.0.1.1", pathlib.Path("/d"))
    assert argv[:11] == ["/usr/bin/memcached", "-l", "127.0.1.1", "-p", "11211", "-U", "0",
                         "-m", "64", "-c", "4096"]
    assert ("-u" in argv) == (os.geteuid() == 0)
    assert argv[-2:] == ["-I", "2m"]


def test_program_file_keeps_empty_arguments_and_escapes_percent():
    text = program_conf("r-1", ["/bin/redis-server", "--save", "", "--x", "50%"],
                        pathlib.Path("/data/r-1"), pathlib.Path("/logs/r-1.log"))
    command = next(line for line in text.splitlines() if line.startswith("command="))
    assert shlex.split(command[len("command="):].replace("%%", "%")) == \
        ["/bin/redis-server", "--save", "", "--x", "50%"]
    for setting in ("autostart=true", "autorestart=true", "startsecs=1", "startretries=3",
                    "stopwaitsecs=10", "stopsignal=TERM", "redirect_stderr=true"):
        assert setting in text.splitlines()


@pytest.mark.parametrize("engine, output, version", [
    ("memcached", "memcached 1.6.18\n", "1.6.18"),
    ("redis", "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", "7.0.15"),
    ("redis", "memcached 1.6.18", None),
])
def test_versions_are_parsed_from_the_version_commands(engine, output, version):
    assert ENGINES[engine].parse_version(output) == version


def test_engine_version_selects_by_prefix_on_a_dot():
    assert select_install(INSTALLS, "redis", "7.0").version == "7.0.15"
    assert select_install(INSTALLS, "redis", "").version == "7.0.15"
    assert select_install(INSTALLS, "redis", "7.0.1") is None


def test_redis_probe_authenticates_when_a_password_is_set():
    redis = ENGINES["redis"]
    request, lines = redis.probe(pb.NodeSpec(parameters={"requirepass": "s3cret word"}))
    assert lines == 2 and b"AUTH" in request and b"s3cret word" in request
    assert redis.judge(["+OK", "+PONG"]).ok
    assert not redis.judge(["-LOADING Redis is loading the dataset in memory"]).ok
    assert not redis.judge(["-ERR unknown"]).ok


@pytest.mark.parametrize("spec, error", [
    (pb.NodeSpec(node_key="a-1", engine="redis", port=6379, max_memory_mb=1, bind_address="10.0.0.1"),
     FailedPrecondition),
    (pb.NodeSpec(node_key="a-1", engine="redis", port=6379, max_memory_mb=1, reboot_generation=-1),
     InvalidArgument),
    (pb.NodeSpec(node_key="a" * 82, engine="redis", port=6379, max_memory_mb=1), InvalidArgument),
    (pb.NodeSpec(node_key="a-1", engine="redis", port=6379, max_memory_mb=1,
                 parameters={"Bad Name": "1"}), InvalidArgument),
])
def test_validation_rejects(spec, error):
    with pytest.raises(error):
        validate(spec, INSTALLS, ["127.0.1.1"])


def test_validation_accepts_the_main_or_an_extra_address():
    for address in ("", "127.0.1.1", "127.0.1.101"):
        spec = pb.NodeSpec(node_key="a-1", engine="redis", port=6379, max_memory_mb=1, bind_address=address)
        engine, install = validate(spec, INSTALLS, ["127.0.1.1", "127.0.1.101"])
        assert engine.name == "redis" and install.path == "/usr/bin/redis-server"


def test_log_tail_keeps_the_last_distinct_lines(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("start\nbind: Address already in use\n\nbind: Address already in use\n")
    assert tail(log, 3) == "start | bind: Address already in use"
    assert tail(tmp_path / "missing.log", 3) == ""
