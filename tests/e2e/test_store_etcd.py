"""The etcd store keeps every promise of the store contract against a real etcd, over mutual TLS
from the fleet CA; and what only etcd has: listings read in pages, errors as StoreError."""
import asyncio

import pytest

from coordinator.state.store.base import StoreError
from coordinator.state.store.etcd import EtcdStore, prefix_end
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.fleet import free_port
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
