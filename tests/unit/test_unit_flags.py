"""The coordinator unit with README's environment files, through the coordinator's own parser:
one unit for a coordinator on SQLite and for one of three on etcd (README, "Three coordinators
on three machines"). The etcd unit's flags against `etcd --help`: tests/e2e/test_etcd_unit.py."""
from __future__ import annotations

import argparse
import os

import pytest

from coordinator import main as coordinator_main
from coordinator.state.store import spec as store_spec
from tests.helpers.unitfiles import (
    SERVICE_SECTION,
    THREE_MACHINES_SECTION,
    command,
    parse_env,
    readme_env_files,
    readme_lines,
    unit_lines,
)

COORDINATOR = "/opt/cachefleet/venv/bin/cachefleet-coordinator"
MACHINES = ("10.0.0.1", "10.0.0.2", "10.0.0.3")


def coordinator_args(monkeypatch: pytest.MonkeyPatch, section: str) -> argparse.Namespace:
    """The coordinator's options as its unit starts it with the section's coordinator.env (the
    coordinator reads some of its variables itself, so they are its environment too)."""
    env = parse_env(readme_env_files(section)["coordinator.env"])
    for key in [k for k in os.environ if k.startswith("CACHEFLEET_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    words = command(unit_lines("cachefleet-coordinator.service")["ExecStart"], env)
    assert words[0] == COORDINATOR
    return coordinator_main.parse_args(words[1:])


def test_the_coordinator_unit_runs_on_etcd_with_the_three_machines_environment(monkeypatch):
    args = coordinator_args(monkeypatch, THREE_MACHINES_SECTION)
    store = store_spec.parse(args.state_store)
    assert store.kind == "etcd" and store.endpoints == tuple(f"{m}:2379" for m in MACHINES)
    assert (args.name, args.listen, args.advertise) == ("coord1", "10.0.0.1:7420", "10.0.0.1:7420")
    assert args.state_store_ca_cert == "/etc/cachefleet/tls/etcd/ca.crt"
    assert (args.state_store_cert, args.state_store_key) == ("/etc/cachefleet/tls/etcd/coord1.crt",
                                                             "/etc/cachefleet/tls/etcd/coord1.key")
    assert args.secrets_key_file == "/etc/cachefleet/secrets.key"
    assert (args.ca_cert, args.cert) == ("/etc/cachefleet/tls/ca.crt", "/etc/cachefleet/tls/coord1.crt")
    assert args.state_dir == "/var/lib/cachefleet/coordinator" and not args.insecure


def test_the_same_coordinator_unit_keeps_sqlite_with_the_single_coordinator_environment(monkeypatch):
    args = coordinator_args(monkeypatch, SERVICE_SECTION)
    assert args.state_store is None and args.name == "" and args.advertise == ""
    assert args.listen == "10.0.0.2:7420"


def test_the_readme_issues_each_certificate_the_three_machines_environment_files_name():
    """Each etcd member's files are named after CACHEFLEET_ETCD_NAME; each coordinator's etcd
    certificate comes from the etcd CA, its fleet certificate from the fleet CA."""
    issued = readme_lines("  cachefleet ca issue ", THREE_MACHINES_SECTION)
    assert any("--ca-dir /root/etcd-ca --coordinator etcd$k --san 10.0.0.$k" in line for line in issued)
    assert any("--ca-dir /root/etcd-ca --coordinator coord$k" in line for line in issued)
    assert any("--ca-dir /root/fleet-ca --coordinator coord$k --san 10.0.0.$k" in line for line in issued)
    etcd_env = parse_env(readme_env_files(THREE_MACHINES_SECTION)["etcd.env"])
    assert etcd_env["CACHEFLEET_ETCD_NAME"] == "etcd1"
    argv = command(unit_lines("etcd-cachefleet.service")["ExecStart"], etcd_env)
    assert argv[argv.index("--cert-file") + 1] == "/etc/cachefleet/etcd/etcd1.crt"


def test_the_etcd_unit_is_hardened_like_the_others():
    service = unit_lines("etcd-cachefleet.service")
    assert service["User"] == "cachefleet-etcd" and service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/cachefleet/etcd"
    assert service["EnvironmentFile"] == "/etc/cachefleet/etcd.env"
    assert service["Restart"] == "on-failure"
