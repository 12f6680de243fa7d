"""The etcd member's unit (systemd/etcd-cachefleet.service) with README's etcd.env ("Three
coordinators on three machines"): every flag it names is one `etcd --help` lists, each gets a
value, and systemd-analyze has nothing to say about the file. (Processes: so not in tests/unit.)"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.helpers.unitfiles import (
    THREE_MACHINES_SECTION,
    UNITS,
    command,
    parse_env,
    readme_env_files,
    unit_lines,
)

ETCD = "/usr/bin/etcd"
MACHINES = ("10.0.0.1", "10.0.0.2", "10.0.0.3")


@pytest.fixture(scope="module")
def etcd_flags() -> set[str]:
    assert shutil.which(ETCD), f"{ETCD} is not installed: scripts/setup installs Debian's etcd-server"
    done = subprocess.run([ETCD, "--help"], capture_output=True, text=True, timeout=30)
    flags = set(re.findall(r"^\s+--([a-z0-9-]+)", done.stdout + done.stderr, re.M))
    assert "listen-client-urls" in flags, "etcd --help lists no flags"
    return flags


def test_the_etcd_unit_names_only_flags_etcd_takes_and_gives_each_a_value(etcd_flags):
    env = parse_env(readme_env_files(THREE_MACHINES_SECTION)["etcd.env"])
    line = unit_lines("etcd-cachefleet.service")["ExecStart"]
    assert set(re.findall(r"\$\{(\w+)\}", line)) <= env.keys(), "a variable the README's etcd.env lacks"
    argv = command(line, env)
    assert argv[0] == ETCD and all(argv), argv
    given = [word[2:] for word in argv[1:] if word.startswith("--")]
    assert not set(given) - etcd_flags, f"etcd does not take {sorted(set(given) - etcd_flags)}"
    for name in ("client-cert-auth", "peer-client-cert-auth"):
        assert name in given, f"etcd without --{name} lets in anyone"
    for url in ("--listen-client-urls", "--listen-peer-urls", "--initial-advertise-peer-urls"):
        assert argv[argv.index(url) + 1].startswith("https://10.0.0.1:"), url
    cluster = argv[argv.index("--initial-cluster") + 1].split(",")
    assert cluster == [f"etcd{k}=https://{m}:2380" for k, m in enumerate(MACHINES, 1)]



@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_has_nothing_to_say_about_the_etcd_unit():
    """verify exits 0 on settings it ignores: what it prints about the file is the failure."""
    path = UNITS / "etcd-cachefleet.service"
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and path.name not in done.stdout + done.stderr, done.stdout + done.stderr
