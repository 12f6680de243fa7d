"""`cachefleet up --coordinators 3`: what it runs (argv), where, and how the CLI finds it;
decided without starting anything."""
import argparse
import os
import sys

import pytest

from coordinator.cli.usage import DEFAULT_ENDPOINT, default_endpoint
from coordinator.main import EXIT_DEPOSED
from coordinator.up import control, fleet


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    fleet.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_deposed_coordinator_is_told_apart_from_one_that_failed():
    assert control.DEPOSED == EXIT_DEPOSED
    assert fleet.deposed(EXIT_DEPOSED << 8) and not fleet.deposed(1 << 8) and not fleet.deposed(9)


def test_ports_are_spread_from_one_address_or_given_one_per_coordinator():
    assert control.spread("127.0.0.1:7420", 3, 10) == ["127.0.0.1:7420", "127.0.0.1:7430", "127.0.0.1:7440"]
    assert control.spread("127.0.0.1:1,127.0.0.1:5,127.0.0.1:3", 3, 10) == ["127.0.0.1:1", "127.0.0.1:5",
                                                                           "127.0.0.1:3"]
    with pytest.raises(ValueError):
        control.spread("127.0.0.1:1,127.0.0.1:2", 3, 10)
    with pytest.raises(ValueError):
        fleet.config_from_args(_args("--listen", "127.0.0.1:1,127.0.0.1:2"))   # one coordinator, one address
    with pytest.raises(SystemExit):
        _args("--coordinators", "2")   # etcd wants an odd number of members


def test_up_with_three_coordinators_runs_etcd_with_tls_and_coordinators_on_it(tmp_path):
    config = fleet.config_from_args(_args("--state-dir", str(tmp_path), "--coordinators", "3", "--hosts", "2",
                                          "--host-memory-mb", "512"))
    f = fleet.Fleet(config)
    assert [c.name for c in f.children] == ["etcd1", "etcd2", "etcd3", "coordinator1", "coordinator2",
                                           "coordinator3", "agent host1", "agent host2"]
    etcd2 = f.etcd_children[1].argv
    assert etcd2[etcd2.index("--listen-client-urls") + 1] == "https://127.0.0.1:7492"
    assert etcd2[etcd2.index("--initial-cluster") + 1] == (
        "etcd1=https://127.0.0.1:7491,etcd2=https://127.0.0.1:7493,etcd3=https://127.0.0.1:7495")
    assert etcd2[etcd2.index("--data-dir") + 1] == str(tmp_path / "etcd" / "etcd2")
    assert {"--client-cert-auth", "--peer-client-cert-auth"} <= set(etcd2)
    assert f.etcd_children[1].output == tmp_path / "etcd" / "etcd2.log"

    cert = f.ca.coordinator()
    third = f.coordinators[2].argv
    assert third[:5] == [sys.executable, "-m", "coordinator", "--listen", "127.0.0.1:7440"]
    assert third[third.index("--query-api-listen") + 1] == "127.0.0.1:7482"
    assert third[third.index("--state-store") + 1] == "etcd://127.0.0.1:7490,127.0.0.1:7492,127.0.0.1:7494"
    assert third[third.index("--state-store-ca-cert") + 1:third.index("--state-store-key") + 2] == [
        str(cert.ca), "--state-store-cert", str(cert.cert), "--state-store-key", str(cert.key)]
    assert third[third.index("--name") + 1] == "coordinator3"
    assert third[third.index("--secrets-key-file") + 1] == str(tmp_path / "coordinator" / "secrets.key")
    agent = f.agents[0].argv
    assert agent[agent.index("--coordinator") + 1] == "127.0.0.1:7420,127.0.0.1:7430,127.0.0.1:7440"
    assert "3 coordinators on a 3-member etcd" in f.banner()
    assert "--coordinators 3` on the same state dir" in f.banner()


def test_up_alone_is_one_coordinator_on_sqlite(tmp_path):
    f = fleet.Fleet(fleet.config_from_args(_args("--state-dir", str(tmp_path), "--hosts", "1")))
    assert [c.name for c in f.children] == ["coordinator", "agent host1"]
    assert "--state-store" not in f.coordinator.argv
    assert "cachefleet is up: a coordinator and 1 hosts" in f.banner()


def test_a_state_dir_keeps_one_kind_of_store(tmp_path):
    (tmp_path / "coordinator").mkdir()
    (tmp_path / "coordinator" / "coordinator.db").write_bytes(b"")
    three = fleet.Fleet(fleet.config_from_args(_args("--state-dir", str(tmp_path), "--coordinators", "3")))
    with pytest.raises(fleet.FleetError, match="state-store copy"):
        three._check_store_kind()
    (tmp_path / "coordinator" / "coordinator.db").unlink()
    (tmp_path / "etcd" / "etcd1").mkdir(parents=True)
    one = fleet.Fleet(fleet.config_from_args(_args("--state-dir", str(tmp_path))))
    with pytest.raises(fleet.FleetError, match="several coordinators"):
        one._check_store_kind()
    three._check_store_kind()


def test_the_cli_dials_what_up_wrote_in_its_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHEFLEET_STATE_DIR", str(tmp_path))
    assert default_endpoint() == DEFAULT_ENDPOINT
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "endpoint").write_text("127.0.0.1:7430,127.0.0.1:7420,127.0.0.1:7440\n")
    assert default_endpoint() == "127.0.0.1:7430,127.0.0.1:7420,127.0.0.1:7440"
    monkeypatch.delenv("CACHEFLEET_STATE_DIR")
    monkeypatch.chdir(tmp_path)
    assert not os.path.exists("state") and default_endpoint() == DEFAULT_ENDPOINT


def test_a_shorter_leader_lease_comes_with_a_retry_timeout_that_fits_it(tmp_path):
    f = fleet.Fleet(fleet.config_from_args(_args("--state-dir", str(tmp_path), "--coordinators", "3",
                                                 "--leader-lease", "2")))
    argv = f.coordinators[0].argv
    assert argv[argv.index("--leader-lease") + 1:argv.index("--leader-retry-timeout") + 2] == [
        "2", "--leader-retry-timeout", "0.75"]
    assert "--leader-lease" not in fleet.Fleet(fleet.config_from_args(
        _args("--state-dir", str(tmp_path), "--coordinators", "3"))).coordinators[0].argv
    with pytest.raises(ValueError):
        fleet.config_from_args(_args("--leader-lease", "2"))   # one coordinator on SQLite: no election
