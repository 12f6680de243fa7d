"""Who may touch what when engines run as a user of their own: the rendered supervisord files,
the state directory's modes, and the agent's file work in directories an engine can write."""
from __future__ import annotations

import errno
import grp
import os
import pathlib
import pwd
import stat

import pytest

from nodeagent import engineuser
from nodeagent.layout import StateDir, open_in_data_dir, write_atomic
from nodeagent.prepare import prepare
from nodeagent.supervisor import program_conf, supervisord_conf

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_program_runs_as_the_engine_user_only_when_given_one():
    lines = program_conf("r-1", ["/bin/redis-server"], pathlib.Path("/d"), pathlib.Path("/l"),
                         user="cachefleet-engine").splitlines()
    assert "user=cachefleet-engine" in lines
    assert not any(line.startswith("user=") for line in
                   program_conf("r-1", ["/bin/redis-server"], pathlib.Path("/d"), pathlib.Path("/l")).splitlines())


def test_supervisords_socket_is_the_state_directorys_owners_and_no_one_elses(tmp_path):
    lines = supervisord_conf(StateDir.at(tmp_path)).splitlines()
    assert "chmod=0770" in lines
    assert f"chown={ME}:{MY_GROUP}" in lines


def test_only_data_directories_are_shared_with_the_engines_group(tmp_path):
    gid = os.getgid()       # a group this process is in, standing for the engine's
    state = StateDir.at(tmp_path / "agent", engine_gid=gid)
    state.ensure()
    assert {p.name: mode(p) for p in (state.root, state.programs_dir, state.nodes_dir, state.logs_dir)} == \
        {"agent": 0o771, "programs": 0o750, "nodes": 0o750, "logs": 0o770}
    assert (mode(state.data_root), state.data_root.stat().st_gid) == (0o2710, gid)
    data = state.make_data_dir("r-1")
    assert (mode(data), data.stat().st_gid) == (0o2770, gid)


def test_without_an_engine_user_modes_are_left_to_the_umask(tmp_path):
    state = StateDir.at(tmp_path / "agent")
    state.ensure()
    assert not mode(state.data_root) & stat.S_ISGID
    assert not mode(state.make_data_dir("r-1")) & stat.S_ISGID


def test_write_atomic_gives_the_mode_asked_even_to_an_unchanged_file(tmp_path):
    path = tmp_path / "parameters.conf"
    assert write_atomic(path, "x\n") and mode(path) == 0o600
    assert not write_atomic(path, "x\n", mode=0o640) and mode(path) == 0o640


def test_the_agent_never_follows_a_link_an_engine_put_in_its_data_directory(tmp_path):
    secret = tmp_path / "lease.json"
    secret.write_text("agent's")
    secret.chmod(0o644)
    link = tmp_path / "dump.rdb"
    link.symlink_to(secret)
    with pytest.raises(OSError) as refused:
        open_in_data_dir(link)
    assert refused.value.errno == errno.ELOOP
    with open_in_data_dir(link, write=True) as out:
        out.write(b"REDIS")
    assert secret.read_text() == "agent's" and not link.is_symlink() and mode(link) == 0o640
    conf = tmp_path / "parameters.conf"
    conf.symlink_to(secret)
    assert write_atomic(conf, "agent's", mode=0o640)    # the same text, yet replaced: not chmod'ed through
    assert mode(secret) == 0o644 and not conf.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="pytest's own temporary directories are 0700 but as root")
def test_an_engine_user_that_cannot_pass_through_a_parent_is_refused_at_start(tmp_path):
    nobody = engineuser.EngineUser("nobody", 65534, 65534)
    closed = tmp_path / "closed"
    (closed / "data").mkdir(parents=True)
    closed.chmod(0o700)
    tmp_path.chmod(0o711)
    with pytest.raises(engineuser.EngineUserError, match="chmod o\\+x"):
        engineuser.check_reach(nobody, closed / "data")
    closed.chmod(0o711)
    engineuser.check_reach(nobody, closed / "data")


def test_the_engine_user_must_exist_and_may_be_turned_off():
    assert engineuser.resolve("") is None
    with pytest.raises(engineuser.EngineUserError, match="useradd --system"):
        engineuser.resolve("cachefleet-no-such-user")


def test_the_supervisord_units_preparation_hands_the_layout_to_the_agents_user(tmp_path):
    engine = "cachefleet-engine" if os.geteuid() == 0 else ""
    state = prepare(str(tmp_path / "agent"), ME, engine)
    assert f"chown={ME}:{MY_GROUP}" in state.supervisord_conf.read_text().splitlines()
    assert mode(state.supervisord_conf) == 0o640
    if engine:
        assert state.data_root.stat().st_gid == pwd.getpwnam(engine).pw_gid
        assert mode(state.data_root) == 0o2710


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another group needs root here")
def test_a_data_directory_from_before_engines_ran_apart_is_given_to_their_group(tmp_path):
    gid = 54321       # the engine's group; the old files are root's
    data = StateDir.at(tmp_path / "agent").data_dir("r-1")
    (data / "appendonlydir").mkdir(mode=0o700, parents=True)
    (data / "parameters.conf").write_text("maxmemory 1mb\n")
    (data / "parameters.conf").chmod(0o600)
    StateDir.at(tmp_path / "agent", engine_gid=gid).ensure()
    assert (mode(data), data.stat().st_gid) == (0o2770, gid)
    assert {p.name: (mode(p), p.stat().st_gid) for p in data.iterdir()} == {
        "appendonlydir": (0o770, gid), "parameters.conf": (0o660, gid)}


def test_a_program_an_older_agent_wrote_runs_as_the_engine_user_once_supervisord_is_root(tmp_path):
    from nodeagent.prepare import run_as
    program = tmp_path / "r-1.conf"
    program.write_text(program_conf("r-1", ["/bin/redis-server"], pathlib.Path("/d"), pathlib.Path("/l")))
    assert run_as(program, "cachefleet-engine")
    assert program.read_text() == program_conf("r-1", ["/bin/redis-server"], pathlib.Path("/d"),
                                               pathlib.Path("/l"), user="cachefleet-engine")
    assert not run_as(program, "cachefleet-engine")
