"""The etcd store keeps every promise of the store contract against a real etcd, over mutual TLS
from the fleet CA; and what only etcd has: listings read in pages, errors as StoreError."""
import asyncio
import json
import uuid

import pytest

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.cli import main as cli
from coordinator.state.store import SqliteStore
from coordinator.state.store.base import StoreError
from coordinator.state.store.etcd import EtcdStore, prefix_end
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.fleet import Fleet, free_port
from tests.helpers.store_contract import StoreContract


class TestEtcdStore(StoreContract):
    @pytest.fixture
    def make_store(self, etcd):
        return etcd.store


def test_a_listing_longer_than_a_page_is_whole_and_ordered(etcd):
    async def scenario():
        store = etcd.store()
        store.page_size = 3
        keys = [f"events/{i:03d}" for i in range(10)]
        assert await store.transact([(key, {"i": key}, None) for key in reversed(keys)])
        assert [r.key for r in await store.list("events/")] == keys
        assert [r.key for r in await store.list_range("events/002", "events/009")] == keys[2:9]
        await store.close()
    asyncio.run(scenario())


def test_a_client_without_the_fleet_certificate_gets_a_store_error(etcd):
    async def scenario():
        plaintext = EtcdStore(EtcdClient([etcd.endpoint], timeout=2), prefix="/x/")
        with pytest.raises(StoreError, match=etcd.endpoint):
            await plaintext.get("k")   # etcd asks for a client certificate
        await plaintext.close()
    asyncio.run(scenario())


def test_a_member_that_does_not_answer_is_passed_over(etcd):
    """A write to a member that does not answer fails (it is never sent twice); the next call
    goes to the next member. A read tries each member in turn at once."""
    async def scenario():
        silent = f"127.0.0.1:{free_port()}"
        store = EtcdStore(EtcdClient([silent, etcd.endpoint], tls=etcd.tls, timeout=2), prefix=etcd.store().prefix)
        with pytest.raises(StoreError, match=silent):
            await store.put("k", {"v": 1})
        assert await store.put("k", {"v": 1}) is not None
        await store.close()
        reader = EtcdStore(EtcdClient([silent, etcd.endpoint], tls=etcd.tls, timeout=2), prefix=store.prefix)
        assert (await reader.get("k")).value == {"v": 1}
        await reader.close()
    asyncio.run(scenario())


def test_prefix_end_is_the_first_key_past_the_prefix():
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"") == b"\0"


def test_a_coordinator_keeps_its_state_in_etcd_and_copy_brings_it_back_to_sqlite(etcd, tmp_path, capsys):
    """A coordinator started with --state-store etcd://... writes nothing to its state directory's
    SQLite file; restarted, it finds what it recorded; `state-store copy` takes that to a SQLite file."""
    spec = f"etcd://{etcd.endpoint}/{uuid.uuid4().hex}"
    etcd_tls = [str(etcd.tls.ca), str(etcd.tls.cert), str(etcd.tls.key)]
    fleet = Fleet(tmp_path / "fleet", hosts=0, coordinator_args=[
        "--state-store", spec, *[arg for pair in zip(("--state-store-ca-cert", "--state-store-cert",
                                                      "--state-store-key"), etcd_tls) for arg in pair]])
    try:
        fleet.start()
        fleet.stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
            cache_parameter_group_name="kept", cache_parameter_group_family="redis7.0", description="in etcd"),
            timeout=5)
        fleet.kill_coordinator()
        fleet.start_coordinator()
        groups = fleet.stub.DescribeCacheParameterGroups(pb.DescribeCacheParameterGroupsRequest(), timeout=5)
        assert "kept" in {g.cache_parameter_group_name for g in groups.cache_parameter_groups}
        assert not (fleet.state_dir / "coordinator.db").exists()
    finally:
        fleet.stop()
    copy = tmp_path / "copy.db"
    assert cli.main(["state-store", "copy", spec, f"sqlite:{copy}", "--ca-cert", etcd_tls[0], "--cert", etcd_tls[1],
                     "--key", etcd_tls[2]]) == 0
    copied = json.loads(capsys.readouterr().out)["Copied"]

    async def read():
        store = SqliteStore(copy)
        records = await store.list("")
        await store.close()
        return records
    records = asyncio.run(read())
    assert len(records) == copied and any(r.value.get("description") == "in etcd" for r in records)
