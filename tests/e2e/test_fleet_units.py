"""The systemd units in systemd/: hardened, wired together as described, and valid for systemd."""
from __future__ import annotations

import configparser
import os
import pathlib
import pwd
import shutil
import subprocess
import sys

import pytest

UNITS = pathlib.Path(__file__).resolve().parents[2] / "systemd"
NAMES = ("cachefleet-coordinator.service", "cachefleet-supervisord.service", "cachefleet-agent.service")
VENV_BIN = "/opt/cachefleet/venv/bin/"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNITS / name)
    return parser


def values(name: str, key: str) -> list[str]:
    """Every value of a [Service] setting a unit gives more than once (SystemCallFilter=)."""
    lines = (UNITS / name).read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]


@pytest.mark.parametrize("name", NAMES)
def test_every_unit_is_hardened_and_restarts_on_failure(name):
    service = unit(name)["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"].startswith("/var/lib/cachefleet/")
    assert service["ProtectHome"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["Restart"] == "on-failure" and float(service["RestartSec"]) > 0
    assert service["ExecStart"].startswith(VENV_BIN)
    assert values(name, "SystemCallFilter")[0] == "@system-service"
    assert service["SystemCallErrorNumber"] == "EPERM"
    for limit in ("MemoryMax", "TasksMax", "LimitNOFILE"):
        assert service[limit], f"{name} sets no {limit}"


def test_only_supervisord_runs_as_root_and_only_with_what_dropping_to_the_engine_user_takes():
    for name, capabilities in (("cachefleet-coordinator.service", ""),
                               ("cachefleet-agent.service", "CAP_NET_ADMIN")):   # its nftables table
        service = unit(name)["Service"]
        assert service["User"] == "cachefleet" and service["CapabilityBoundingSet"] == capabilities
        assert service.get("AmbientCapabilities", "") == capabilities
        assert "~@privileged @resources" in values(name, "SystemCallFilter")
    supervisord = unit("cachefleet-supervisord.service")["Service"]
    assert "User" not in supervisord and supervisord["Group"] == "cachefleet"
    assert set(supervisord["CapabilityBoundingSet"].split()) == {"CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN"}
    # systemd would chown a StateDirectory= of a root unit to root, every engine's data included
    assert "StateDirectory" not in supervisord
    assert supervisord["OOMPolicy"] == "continue", "one engine OOM-killed must not stop them all"


def test_processes_of_other_users_are_hidden_except_from_the_agent():
    """The agent reads the engines' /proc/<pid>/stat and status (CPUUtilization, SwapUsage),
    and they run as another user: ProtectProc=invisible would hide them."""
    for name in ("cachefleet-coordinator.service", "cachefleet-supervisord.service"):
        assert unit(name)["Service"]["ProtectProc"] == "invisible"
    assert "ProtectProc" not in unit("cachefleet-agent.service")["Service"]


def test_the_agent_and_supervisord_agree_on_the_engine_user():
    agent, supervisord = unit("cachefleet-agent.service")["Service"], unit("cachefleet-supervisord.service")["Service"]
    engine = supervisord["ExecStartPre"].split("--engine-user ")[1].split()[0]
    assert f"--engine-user {engine}" in agent["ExecStart"]
    assert agent["SupplementaryGroups"] == engine, "the agent shares data directories through its group"
    assert "--agent-user cachefleet" in supervisord["ExecStartPre"]


def test_flags_come_from_environment_files():
    for name, variable in (("cachefleet-coordinator.service", "$CACHEFLEET_COORDINATOR_ARGS"),
                           ("cachefleet-agent.service", "$CACHEFLEET_AGENT_ARGS")):
        service = unit(name)["Service"]
        assert service["EnvironmentFile"].lstrip("-").startswith("/etc/cachefleet/")
        assert service["ExecStart"].endswith(variable)


def test_the_agent_attaches_to_its_own_supervisord_unit_without_owning_it():
    agent, supervisord = unit("cachefleet-agent.service"), unit("cachefleet-supervisord.service")
    assert "cachefleet-supervisord.service" in agent["Unit"]["Wants"].split()
    assert "cachefleet-supervisord.service" in agent["Unit"]["After"].split()
    assert "Requires" not in agent["Unit"] and "BindsTo" not in agent["Unit"]
    assert "PartOf" not in supervisord["Unit"], "restarting the agent must not restart engines"
    assert "--nodaemon" in supervisord["Service"]["ExecStart"]
    assert supervisord["Service"]["KillMode"] == "mixed"
    socket_conf = "/var/lib/cachefleet/agent/supervisord.conf"
    assert socket_conf in supervisord["Service"]["ExecStart"]
    assert socket_conf in agent["Service"]["ExecStartPre"]
    assert "--state-dir /var/lib/cachefleet/agent" in agent["Service"]["ExecStart"]


def test_the_supervisord_preparation_line_runs(tmp_path):
    """The unit lays out the state directory and writes supervisord.conf with the agent's own
    code (as root): that line must work, with this process's user standing for the agent's."""
    from tests.helpers.servicefleet import command
    words = command(unit("cachefleet-supervisord.service")["Service"]["ExecStartPre"], {})
    assert words[:3] == [f"{VENV_BIN}python", "-m", "nodeagent.prepare"]
    args = [str(tmp_path) if w == "/var/lib/cachefleet/agent" else w for w in words[3:]]
    args[args.index("--agent-user") + 1] = pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() != 0:
        args[args.index("--engine-user") + 1] = ""
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "proto")]))
    subprocess.run([sys.executable, "-m", "nodeagent.prepare", *args], check=True, env=env, timeout=60)
    conf = (tmp_path / "supervisord.conf").read_text().splitlines()
    assert f"file={tmp_path}/supervisor.sock" in conf and "chmod=0770" in conf


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    """verify also checks that every command exists: the venv's are stand-ins here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in NAMES:
        text = (UNITS / name).read_text()
        for command in {word.split()[0] for word in text.split(VENV_BIN)[1:]}:
            if not (bin_dir / command).exists():
                (bin_dir / command).symlink_to(shutil.which("true"))
        (tmp_path / name).write_text(text.replace(VENV_BIN, f"{bin_dir}/"))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in NAMES)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readmes_environment_files_give_each_daemon_its_certificate():
    """The daemons refuse to start without mTLS files: the README's env files must name them,
    under /etc/cachefleet/tls (readable under ProtectSystem=strict), and each issue line's --out
    must be what is copied there (tests/e2e/test_partitions_e2e.py deploys it for real)."""
    from tests.helpers.servicefleet import TLS_VARIABLES, parse_env, readme_env_files, readme_lines
    files = readme_env_files()
    for name in ("coordinator.env", "agent.env"):
        env = parse_env(files[name])
        assert all(env.get(key, "").startswith("/etc/cachefleet/tls/") for key in TLS_VARIABLES), f"{name}: {env}"
        assert "CACHEFLEET_INSECURE" not in env
    issued = " ".join(readme_lines("cachefleet ca issue "))
    assert "--coordinator" in issued and "--host" in issued and "--client" in issued
