"""The systemd units in systemd/: hardened, wired together as described, and valid for systemd."""
from __future__ import annotations

import configparser
import os
import pathlib
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


@pytest.mark.parametrize("name", NAMES)
def test_every_unit_is_hardened_and_restarts_on_failure(name):
    service = unit(name)["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"].startswith("/var/lib/cachefleet/")
    assert service["ProtectHome"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["Restart"] == "on-failure" and float(service["RestartSec"]) > 0
    assert service["User"] == "cachefleet"
    assert service["ExecStart"].startswith(VENV_BIN)


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


def test_the_supervisord_config_line_runs(tmp_path):
    """The unit writes supervisord.conf with the agent's own code: that one-liner must work."""
    line = unit("cachefleet-supervisord.service")["Service"]["ExecStartPre"]
    code = line.split('"')[1]
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "proto")]))
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, timeout=60)
    assert f"file={tmp_path}/supervisor.sock" in (tmp_path / "supervisord.conf").read_text()


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
