"""The node agent's pure rules: status derivation, command lines, program files, validation.

Fast checks beside the real-process tests in test_nodeagent.py.
"""
from __future__ import annotations

import pathlib
import shlex

import pytest
from cachefleet.v1 import cache_control_pb2, node_agent_pb2 as pb

from nodeagent.engines import ENGINES, ProbeResult, select_install
from nodeagent.engines import redis as redis_engine
from nodeagent.enums import Role
from nodeagent.errors import FailedPrecondition, InvalidArgument
from nodeagent.health import NodeStatus, derive_status
from nodeagent.layout import StateDir, tail
from nodeagent.lease import Lease, boot_id
from nodeagent.replication import wanted
from nodeagent.resp import RespError
from nodeagent.specs import program_fields, validate
from nodeagent.specstore import SpecStore
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


def test_redis_parameters_are_in_a_file_read_after_the_engine_defaults_and_before_the_role_file():
    spec = pb.NodeSpec(node_key="r-1", engine="redis", port=6400, max_memory_mb=100,
                       parameters={"maxmemory-policy": "allkeys-lru", "save": "900 1", "notify-keyspace-events": ""})
    argv = ENGINES["redis"].command("/usr/bin/redis-server", spec, "127.0.1.1", pathlib.Path("/d"))
    assert argv[:5] == ["/usr/bin/redis-server", "--bind", "127.0.1.1", "--include", "/d/listen.conf"]
    assert "--maxmemory" not in argv and "allkeys-lru" not in argv
    assert argv[-4:] == ["--include", "/d/parameters.conf", "--include", "/d/replication.conf"]
    conf = ENGINES["redis"].data_files(spec, pathlib.Path("/d"))["parameters.conf"].splitlines()
    assert conf[1:] == ["maxmemory 100mb", "maxmemory-policy allkeys-lru", 'notify-keyspace-events ""',
                        "save 900 1"]
    # a parameter or memory change is the same program: it never restarts the engine
    changed = pb.NodeSpec(node_key="r-1", engine="redis", port=6400, max_memory_mb=50,
                          parameters={"maxmemory-policy": "noeviction"}, immediate_parameters=["maxmemory-policy"])
    assert program_fields(changed) == program_fields(spec)
    assert ENGINES["redis"].command("/usr/bin/redis-server", changed, "127.0.1.1", pathlib.Path("/d")) == argv


def test_program_file_keeps_empty_arguments_and_escapes_percent():
    text = program_conf("r-1", ["/bin/redis-server", "--save", "", "--x", "50%"],
                        pathlib.Path("/data/r-1"), pathlib.Path("/logs/r-1.log"))
    command = next(line for line in text.splitlines() if line.startswith("command="))
    assert shlex.split(command[len("command="):].replace("%%", "%")) == \
        ["/bin/redis-server", "--save", "", "--x", "50%"]
    for setting in ("autostart=true", "autorestart=true", "startsecs=1", "startretries=3",
                    "stopwaitsecs=10", "stopsignal=TERM", "redirect_stderr=true"):
        assert setting in text.splitlines()
    unsupervised = program_conf("r-1", ["/bin/redis-server"], pathlib.Path("/d"), pathlib.Path("/l"),
                                supervised=False).splitlines()
    assert "autostart=false" in unsupervised and "autorestart=false" in unsupervised


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


def test_redis_session_authenticates_when_a_password_is_set():
    session = ENGINES["redis"].session("127.0.1.1",
                                       pb.NodeSpec(port=6400, parameters={"requirepass": "s3cret word"}))
    assert session.hello[0] == ("AUTH", "s3cret word")
    assert ENGINES["redis"].session("127.0.1.1", pb.NodeSpec(port=6400)).hello[0][0] != "AUTH"


def test_redis_probe_judges_ping_and_reads_role_and_fence():
    info = "# Server\r\nrun_id:abc\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\n" \
           "master_repl_offset:42\r\n# Stats\r\nsync_full:2\r\n"
    result = redis_engine.judge(["PONG", info, ["min-replicas-to-write", str(redis_engine.FENCE),
                                                "min-replicas-max-lag", "1"]])
    assert result.ok and result.fenced
    assert result.replication == pb.ReplicationInfo(role=pb.ROLE_PRIMARY, offset=42, connected_replicas=1,
                                                    full_syncs=2, run_id="abc", online_replicas=0)
    loading = redis_engine.judge([RespError("LOADING Redis is loading the dataset in memory"),
                                  "role:slave\r\nmaster_sync_in_progress:1\r\n", RespError("LOADING")])
    assert not loading.ok and loading.answered and loading.detail == "loading the dataset"
    assert loading.replication.sync_in_progress and loading.fenced is None
    assert not redis_engine.judge([RespError("ERR unknown"), RespError("ERR"), RespError("ERR")]).ok


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


# --- replication: roles, the role file, the lease ---

def redis_spec(**fields) -> pb.NodeSpec:
    return pb.NodeSpec(**{"node_key": "g-1", "engine": "redis", "port": 6400, "max_memory_mb": 64, **fields})


@pytest.mark.parametrize("spec, fragment", [
    (pb.NodeSpec(node_key="m-1", engine="memcached", port=11211, max_memory_mb=64, role=pb.ROLE_PRIMARY),
     "memcached nodes have no role"),
    (redis_spec(role=7), "role 7 is not one of ROLE_UNSPECIFIED, ROLE_PRIMARY, ROLE_REPLICA"),
    (redis_spec(role=pb.ROLE_REPLICA), "needs primary_address and primary_port"),
    (redis_spec(role=pb.ROLE_REPLICA, primary_address="127.0.1.2"), "needs primary_address and primary_port"),
    (redis_spec(role=pb.ROLE_REPLICA, primary_address="127.0.1.2\nreplicaof x", primary_port=6400), "primary_address"),
    (redis_spec(role=pb.ROLE_REPLICA, primary_address="127.0.1.2", primary_port=70000), "primary_port 70000"),
    (redis_spec(role=pb.ROLE_REPLICA, primary_address="127.0.1.1", primary_port=6400), "cannot follow itself"),
])
def test_roles_are_validated(spec, fragment):
    with pytest.raises(InvalidArgument) as raised:
        validate(spec, INSTALLS, ["127.0.1.1"])
    assert fragment in str(raised.value)


def test_role_fields_that_mean_nothing_in_a_role_are_ignored():
    """A primary sent a primary_address, a replica sent write_fenced: accepted, and the node is
    run, fenced and pointed exactly as without the stray field."""
    lease = Lease(margin=0.2)
    lease.granted(sent_at=10.0, lease_ms=1000, writable=["g-1"])
    follower = {"role": pb.ROLE_REPLICA, "primary_address": "127.0.1.2", "primary_port": 6400}
    for spec, plain in ((redis_spec(role=pb.ROLE_PRIMARY, primary_address="127.0.1.2", primary_port=6400),
                         redis_spec(role=pb.ROLE_PRIMARY)),
                        (redis_spec(write_fenced=True, **follower), redis_spec(**follower))):
        engine, install = validate(spec, INSTALLS, ["127.0.1.1"])
        assert (engine.name, install.path) == ("redis", "/usr/bin/redis-server")
        data = pathlib.Path("/d")
        assert ENGINES["redis"].data_files(spec, data) == ENGINES["redis"].data_files(plain, data)
        assert wanted(spec, lease, now=10.1) == wanted(plain, lease, now=10.1)
    assert wanted(redis_spec(role=pb.ROLE_PRIMARY, primary_address="127.0.1.2", primary_port=6400), lease,
                  now=10.1) == (False, None, False)   # an authorized primary: writable, following no one


def test_a_role_change_is_the_same_program():
    standalone = redis_spec(parameters={"maxmemory-policy": "allkeys-lru"})
    roles = [redis_spec(parameters={"maxmemory-policy": "allkeys-lru"}, **fields) for fields in (
        {"role": pb.ROLE_PRIMARY}, {"role": pb.ROLE_PRIMARY, "write_fenced": True},
        {"role": pb.ROLE_REPLICA, "primary_address": "127.0.1.2", "primary_port": 6400})]
    render = ENGINES["redis"].command
    for spec in roles:
        assert program_fields(spec) == program_fields(standalone)
        assert render("/r", spec, "127.0.1.1", pathlib.Path("/d")) == \
            render("/r", standalone, "127.0.1.1", pathlib.Path("/d"))
    assert program_fields(redis_spec(port=6401)) != program_fields(standalone)


def test_the_role_file_makes_a_restarted_replica_follow_and_a_restarted_primary_start_fenced():
    def files(spec: pb.NodeSpec) -> dict[str, str]:
        return ENGINES["redis"].data_files(spec, pathlib.Path("/d"))
    replica = files(redis_spec(role=pb.ROLE_REPLICA, primary_address="127.0.1.2", primary_port=6400))
    assert replica["replication.conf"].splitlines()[1:] == [
        "replicaof 127.0.1.2 6400", f"min-replicas-to-write {redis_engine.FENCE}", "min-replicas-max-lag 1"]
    assert files(redis_spec(role=pb.ROLE_PRIMARY))["replication.conf"].splitlines()[1:] == [
        f"min-replicas-to-write {redis_engine.FENCE}", "min-replicas-max-lag 1"]
    assert files(redis_spec())["replication.conf"].splitlines()[1:] == ["min-replicas-to-write 0",
                                                                        "min-replicas-max-lag 1"]
    assert ENGINES["memcached"].data_files(redis_spec(), pathlib.Path("/d")) == {}
    for managed in ("replicaof", "min-replicas-to-write", "min-replicas-max-lag", "rename-command"):
        with pytest.raises(InvalidArgument, match="may not be set"):
            validate(redis_spec(parameters={managed: "1"}), INSTALLS, ["127.0.1.1"])


@pytest.mark.parametrize("engine, name", [
    ("redis", "loadmodule"), ("redis", "dir"), ("redis", "aclfile"), ("redis", "dbfilename"),
    ("redis", "enable-debug-command"), ("redis", "include"), ("redis", "maxmemory"), ("redis", "requirepass"),
    ("redis", "no-such-parameter-yet"), ("redis", "hz\n"), ("redis", "HZ"), ("redis", "reserved-memory"),
    ("memcached", "port"), ("memcached", "listen"), ("memcached", "memory_limit"), ("memcached", "unix_socket"),
    ("memcached", "max_item_size\n"),
])
def test_a_spec_carries_only_the_catalogues_modifiable_parameters(engine, name):
    """An allow-list: a name the catalogue does not list as modifiable for the binary's family is
    refused, however it is spelled, and the message names it."""
    spec = pb.NodeSpec(node_key="a-1", engine=engine, port=6400, max_memory_mb=64, parameters={name: "1"})
    with pytest.raises(InvalidArgument) as refused:
        validate(spec, INSTALLS, ["127.0.1.1"])
    assert repr(name) in str(refused.value) and refused.value.code == "InvalidParameterValue"


def test_the_allow_list_is_the_family_of_the_binary_that_runs_the_node():
    """redis 6.0 has gopher-enabled and 7.0 does not; a family without a catalogue takes nothing."""
    installs = INSTALLS + [cache_control_pb2.EngineInstall(engine="redis", version="6.0.9", path="/opt/r6"),
                           cache_control_pb2.EngineInstall(engine="redis", version="9.9.1", path="/opt/r9")]
    six = redis_spec(engine_version="6.0.9", parameters={"gopher-enabled": "no", "hz": "20"},
                     immediate_parameters=["hz"])
    assert validate(six, installs, ["127.0.1.1"])[1].path == "/opt/r6"
    with pytest.raises(InvalidArgument, match="'gopher-enabled' may not be set on redis7.0"):
        validate(redis_spec(engine_version="7.0", parameters={"gopher-enabled": "no"}), installs, ["127.0.1.1"])
    with pytest.raises(InvalidArgument, match="may not be set on redis9.9"):
        validate(redis_spec(engine_version="9.9.1", parameters={"hz": "20"}), installs, ["127.0.1.1"])
    assert validate(redis_spec(engine_version="9.9.1"), installs, ["127.0.1.1"])[1].path == "/opt/r9"


def test_only_parameters_the_engine_takes_at_runtime_may_be_applied_live():
    live = redis_spec(parameters={"hz": "20", "databases": "32"}, immediate_parameters=["hz"])
    validate(live, INSTALLS, ["127.0.1.1"])
    with pytest.raises(InvalidArgument, match="does not apply live: 'databases'"):
        validate(redis_spec(parameters={"databases": "32"}, immediate_parameters=["databases"]),
                 INSTALLS, ["127.0.1.1"])


def test_a_lease_lets_authorized_primaries_write_until_the_margin_before_it_ends():
    lease = Lease(margin=0.2)
    assert not lease.may_write("g-1", now=0.0), "no lease before the first answer"
    lease.granted(sent_at=10.0, lease_ms=1000, writable=["g-1"])
    assert lease.may_write("g-1", now=10.79) and not lease.may_write("g-1", now=10.8)
    assert not lease.may_write("g-2", now=10.1), "not authorized"
    lease.granted(sent_at=11.0, lease_ms=0, writable=["g-1"])
    assert not lease.may_write("g-1", now=11.0), "lease_ms 0: no lease"
    lease.granted(sent_at=12.0, lease_ms=1000, writable=[])
    assert not lease.may_write("g-1", now=12.1), "left out of writable_primaries"


def test_an_answer_does_not_undo_what_a_later_ensure_node_decided():
    lease = Lease(margin=0.2)
    lease.granted(sent_at=10.0, lease_ms=1000, writable=["old"])
    lease.decide("new", True, now=10.1)      # promoted after the next heartbeat was sent ...
    lease.decide("old", False, now=10.1)     # ... and the old primary fenced
    lease.granted(sent_at=10.05, lease_ms=1000, writable=["old"])  # an answer computed before
    assert lease.may_write("new", now=10.2) and not lease.may_write("old", now=10.2)
    lease.granted(sent_at=10.3, lease_ms=1000, writable=["old"])    # the coordinator's newer word
    assert lease.may_write("old", now=10.4) and not lease.may_write("new", now=10.4)


def test_a_restarted_agent_takes_over_the_lease_of_this_boot_only(tmp_path):
    path = tmp_path / "lease.json"
    saved = Lease(margin=0.2, path=path)
    saved.granted(sent_at=100.0, lease_ms=1000, writable=["g-1"])
    taken = Lease(margin=0.2, path=path)
    taken.load()
    assert taken.may_write("g-1", now=100.5)
    path.write_text(path.read_text().replace(boot_id(), "another-boot"))
    other = Lease(margin=0.2, path=path)
    other.load()
    assert not other.may_write("g-1", now=100.5)


@pytest.mark.parametrize("fields, authorized, fenced", [
    ({"role": pb.ROLE_PRIMARY}, True, False),
    ({"role": pb.ROLE_PRIMARY}, False, True),
    ({"role": pb.ROLE_PRIMARY, "write_fenced": True}, True, True),
    ({"role": pb.ROLE_REPLICA, "primary_address": "127.0.1.2", "primary_port": 6400}, True, True),
    ({}, False, False),
])
def test_who_is_fenced(fields, authorized, fenced):
    lease = Lease(margin=0.2)
    lease.granted(sent_at=10.0, lease_ms=1000, writable=["g-1"] if authorized else [])
    assert wanted(redis_spec(**fields), lease, now=10.1).fenced is fenced


# --- the protocol's enums ---

def test_every_status_and_role_the_agent_has_is_sent_as_its_own_protocol_value():
    assert sorted(pb.NodeStatus.Name(status.proto) for status in NodeStatus) == \
        sorted(name for name in pb.NodeStatus.keys() if name != "NODE_STATUS_UNSPECIFIED")
    assert {Role.of(role.proto) for role in Role} == set(Role)
    assert Role.of(pb.ROLE_UNSPECIFIED) is Role.STANDALONE
    with pytest.raises(ValueError):
        Role.of(7)


def test_the_probe_reports_a_replicas_link_in_the_protocols_words():
    info = "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6400\r\n" \
           "master_link_status:down\r\n"
    replica = redis_engine.judge(["PONG", "run_id:abc\r\n", info, "sync_full:0\r\n", ["x", "0"]]).replication
    assert (replica.role, replica.link_status) == (pb.ROLE_REPLICA, pb.LINK_STATE_DOWN)
    master = redis_engine.judge(["PONG", "", "role:master\r\nmaster_link_status:up\r\n", "", ["x", "0"]])
    assert (master.replication.role, master.replication.link_status) == (pb.ROLE_PRIMARY, pb.LINK_STATE_UNSPECIFIED)


def test_an_upgraded_agent_still_knows_the_roles_an_older_one_saved(tmp_path):
    state = StateDir.at(tmp_path)
    state.ensure()
    state.spec_file("g-1").write_text('{"node_key": "g-1", "engine": "redis", "port": 6400, "role": "primary"}\n')
    state.spec_file("g-2").write_text('{"node_key": "g-2", "engine": "redis", "port": 6400, "role": "replica", '
                                      '"primary_address": "127.0.1.2", "primary_port": 6400}\n')
    store = SpecStore(state)
    store.save(redis_spec(node_key="g-3", role=pb.ROLE_PRIMARY, write_fenced=True))
    specs = store.load_all()
    assert {key: spec.role for key, spec in specs.items()} == \
        {"g-1": pb.ROLE_PRIMARY, "g-2": pb.ROLE_REPLICA, "g-3": pb.ROLE_PRIMARY}
    assert specs["g-3"] == redis_spec(node_key="g-3", role=pb.ROLE_PRIMARY, write_fenced=True)


def test_a_guarded_primary_wants_its_guard_and_a_fenced_one_only_its_fence():
    lease = Lease(margin=0.2)
    lease.granted(sent_at=10.0, lease_ms=1000, writable=["g-1"])
    assert wanted(redis_spec(role=pb.ROLE_PRIMARY, write_guard=True), lease, now=10.1) == (False, None, True)
    assert wanted(redis_spec(role=pb.ROLE_PRIMARY, write_guard=False), lease, now=10.1) == (False, None, False)
    assert wanted(redis_spec(role=pb.ROLE_PRIMARY, write_guard=True), lease, now=11.0).fenced


def test_the_fence_commands_say_fenced_guarded_or_open_and_always_set_the_lag():
    for (fenced, guarded), value in {(True, True): redis_engine.FENCE, (True, False): redis_engine.FENCE,
                                     (False, True): 1, (False, False): 0}.items():
        assert redis_engine.fence_commands(fenced, guarded) == [
            ("CONFIG", "SET", "min-replicas-max-lag", "1"), ("CONFIG", "SET", "min-replicas-to-write", str(value))]


def test_the_probe_reads_the_guard_from_both_settings_and_a_lag_of_0_is_no_guard_or_fence():
    info = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"

    def judged(to_write: int, max_lag: int):
        result = redis_engine.judge(["PONG", info, "", "", ["min-replicas-max-lag", str(max_lag),
                                                            "min-replicas-to-write", str(to_write)]])
        return result.fenced, result.guarded
    assert judged(1, 1) == (False, True)
    assert judged(redis_engine.FENCE, 1) == (True, False)
    # redis ignores min-replicas-to-write while the lag is 0: a client's CONFIG SET lifts both
    assert judged(1, 0) == (False, False) and judged(redis_engine.FENCE, 0) == (False, False)
    assert judged(1, 5) == (False, False)
