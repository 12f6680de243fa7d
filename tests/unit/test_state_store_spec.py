"""Which state store the coordinator opens (--state-store), with which certificate, and
`cachefleet state-store copy` between two SQLite stores (etcd's side: tests/e2e/test_store_etcd.py)."""
from __future__ import annotations

import asyncio
import json

import pytest

from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from coordinator import main as coordinator_main
from coordinator.cli import main as cli
from coordinator.state.store import SqliteStore
from coordinator.state.store.spec import StoreSpec, default_spec, parse


def test_a_spec_names_a_sqlite_file_or_etcd_members_and_a_prefix():
    assert parse("sqlite:/var/lib/c.db") == StoreSpec("sqlite", path="/var/lib/c.db")
    spec = parse("etcd://10.0.0.1:2379,etcd-b.example.com:2379")
    assert spec.endpoints == ("10.0.0.1:2379", "etcd-b.example.com:2379") and spec.prefix == "/cachefleet/"
    assert parse("etcd://[::1]:2379/fleets/a/").prefix == "/fleets/a/"
    assert str(parse("etcd://h:1,h:2/a")) == "etcd://h:1,h:2/a"
    assert default_spec("/srv/coord") == StoreSpec("sqlite", path="/srv/coord/coordinator.db")


@pytest.mark.parametrize("text", ["", "sqlite:", "etcd://", "etcd://host", "etcd://h:1,,x", "etcd://h:1/a b",
                                  "mysql://h/db", "/var/lib/c.db"])
def test_a_malformed_spec_says_what_is_expected(text):
    with pytest.raises(ValueError):
        parse(text)


def test_the_coordinator_shows_etcd_its_own_certificate_unless_told_otherwise(tmp_path):
    layout = FleetCaLayout(tmp_path / "ca")
    provision(layout.root, coordinator_sans=["127.0.0.1"], hosts={})
    own = layout.coordinator()
    tls = ["--ca-cert", str(own.ca), "--cert", str(own.cert), "--key", str(own.key)]
    config = coordinator_main.config_from_args(coordinator_main.parse_args(
        ["--state-store", "etcd://127.0.0.1:2379", *tls]))
    assert config.store_spec().kind == "etcd" and config.state_store_tls == own
    config = coordinator_main.config_from_args(coordinator_main.parse_args(["--state-dir", str(tmp_path), *tls]))
    assert config.store_spec() == default_spec(tmp_path), "no --state-store: the SQLite file, as before"
    with pytest.raises(ValueError, match="go together"):
        coordinator_main.config_from_args(coordinator_main.parse_args(
            ["--state-store", "etcd://127.0.0.1:2379", "--state-store-cert", str(own.cert), *tls]))
    assert coordinator_main.main(["--state-store", "etcd:/nowhere", *tls]) == 2
    # the leader lease must outlast two slow renewals: refused at start-up, before etcd is dialled
    assert coordinator_main.main(["--state-store", "etcd://127.0.0.1:1", "--leader-lease", "2",
                                  "--leader-renew-interval", "1", "--leader-retry-timeout", "0.6", *tls]) == 2


def _fill(path, keys):
    async def fill():
        store = SqliteStore(path)
        for key in keys:
            await store.put(key, {"k": key})
        await store.close()
    asyncio.run(fill())


def _keys(path):
    async def read():
        store = SqliteStore(path)
        records = await store.list("")
        await store.close()
        return {record.key: record.value for record in records}
    return asyncio.run(read())


def test_copy_carries_every_key_and_refuses_a_destination_in_use(tmp_path, capsys):
    source, destination = tmp_path / "a.db", tmp_path / "b.db"
    _fill(source, [f"clusters/c{i}" for i in range(150)] + ["hosts/h1"])
    assert cli.main(["state-store", "copy", f"sqlite:{source}", f"sqlite:{destination}"]) == 0
    assert json.loads(capsys.readouterr().out)["Copied"] == 151
    assert _keys(destination) == _keys(source)
    _fill(destination, ["stale/key"])
    assert cli.main(["state-store", "copy", f"sqlite:{source}", f"sqlite:{destination}"]) == 255
    assert "holds 152 keys already" in capsys.readouterr().err
    assert cli.main(["state-store", "copy", f"sqlite:{source}", f"sqlite:{destination}", "--force"]) == 0
    assert _keys(destination) == _keys(source), "--force leaves the destination holding the source's keys only"


def test_copy_needs_a_certificate_for_etcd(tmp_path, capsys):
    assert cli.main(["state-store", "copy", f"sqlite:{tmp_path}/a.db", "etcd://127.0.0.1:2379"]) == 252
    assert "--ca-cert, --cert and --key" in capsys.readouterr().err
