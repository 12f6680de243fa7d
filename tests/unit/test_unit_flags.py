"""The coordinator unit with README's environment files, through the coordinator's own parser:
one unit for a coordinator on SQLite and for one of three on etcd (README, "Three coordinators
on three machines"). The etcd unit's flags against `etcd --help`: tests/e2e/test_etcd_unit.py."""
from __future__ import annotations

import argparse
import os
import shlex

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


def coordinator_argv(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[str]:
    """The coordinator's arguments as its unit starts it with environment file `env` (the
    coordinator reads some of its variables itself, so they are its environment too)."""
    for key in [k for k in os.environ if k.startswith("CACHEFLEET_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    words = command(unit_lines("cachefleet-coordinator.service")["ExecStart"], env)
    assert words[0] == COORDINATOR
    return words[1:]


def coordinator_args(monkeypatch: pytest.MonkeyPatch, section: str) -> argparse.Namespace:
    """The coordinator's options with the coordinator.env of README's `section`."""
    env = parse_env(readme_env_files(section)["coordinator.env"])
    return coordinator_main.parse_args(coordinator_argv(monkeypatch, env))


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


def test_the_coordinator_takes_the_three_machines_configuration_with_the_readmes_certificates(
        monkeypatch, tmp_path, capsys):
    """The README's `cachefleet ca` lines (machine 1: $k=1), their files placed where its
    environment file names them and the secrets key made as it says: the coordinator's whole
    configuration loads, and etcd's CA is not the fleet's, so a cache host's certificate is not
    one etcd would let in."""
    import base64

    from cryptography import x509
    from cryptography.fernet import Fernet

    from cachefleet.common.tls import fleetca
    from cachefleet.common.tls.identity import IdentityError
    from coordinator.cli import main as cli

    def here(text: str) -> str:
        return text.replace("/root/", f"{tmp_path}/root/").replace("/etc/cachefleet/", f"{tmp_path}/etc/")

    lines = [*readme_lines("cachefleet ca init ", SERVICE_SECTION), *readme_lines("cachefleet ca init ", THREE_MACHINES_SECTION),
             *(line.strip() for line in readme_lines("  cachefleet ca issue ", THREE_MACHINES_SECTION)),
             next(line for line in readme_lines("cachefleet ca issue --ca-dir /root/fleet-ca --host ", SERVICE_SECTION))]
    for line in lines:
        assert cli.main(shlex.split(here(line).replace("$k", "1"), comments=True)[1:]) == 0, capsys.readouterr().err
    for source, target in (("fleet-tls/coord1", "etc/tls"), ("etcd-tls/coord1", "etc/tls/etcd")):
        (tmp_path / target).mkdir(parents=True, exist_ok=True)
        for path in (tmp_path / "root" / source).iterdir():
            (tmp_path / target / path.name).write_bytes(path.read_bytes())
    (tmp_path / "etc/secrets.key").write_bytes(Fernet.generate_key())
    env = {key: here(value) for key, value in parse_env(readme_env_files(THREE_MACHINES_SECTION)["coordinator.env"]).items()}
    env["CACHEFLEET_TSIG_SECRET"] = base64.b64encode(b"tsig").decode()
    config = coordinator_main.config_from_args(coordinator_main.parse_args(coordinator_argv(monkeypatch, env)))
    assert config.state_store.startswith("etcd://") and config.name == "coord1"
    assert config.state_store_tls is not None and config.state_store_tls.cert == tmp_path / "etc/tls/etcd/coord1.crt"
    assert config.transport.files is not None and config.transport.files.cert == tmp_path / "etc/tls/coord1.crt"

    etcd_ca = (tmp_path / "root/etcd-ca/ca.crt").read_bytes()
    member_pem = (tmp_path / "root/etcd-tls/etcd1/etcd1.crt").read_bytes()
    assert fleetca.verify_certificate(member_pem, etcd_ca).serves, "it serves clients and peers"
    names = x509.load_pem_x509_certificate(member_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert [str(name) for name in names] == ["10.0.0.1"], "peers check the address the member comes from"
    host = next((tmp_path / "root/fleet-tls").glob("cache-*/cache-*.crt")).read_bytes()
    with pytest.raises(IdentityError):
        fleetca.verify_certificate(host, etcd_ca)
