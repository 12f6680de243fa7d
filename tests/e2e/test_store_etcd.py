"""The etcd store keeps every promise of the store contract against a real etcd, over mutual TLS
from the fleet CA; and what only etcd has: listings read in pages, errors as StoreError."""
import asyncio

import pytest

from coordinator.state.store.base import StoreError
from coordinator.state.store.etcd import EtcdStore, prefix_end
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.fleet import free_port
from tests.helpers.proxy import CuttableProxy
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
        assert [r.key for r in await store.list_range("events/001", "events/~", limit=5)] == keys[1:6]
        await store.close()
    asyncio.run(scenario())


def test_a_client_without_the_fleet_certificate_gets_a_store_error(etcd):
    async def scenario():
        plaintext = EtcdStore(EtcdClient([etcd.endpoint], timeout=2), prefix="/x/")
        with pytest.raises(StoreError, match=etcd.endpoint):
            await plaintext.get("k")   # etcd asks for a client certificate
        await plaintext.close()
    asyncio.run(scenario())


def test_a_member_that_cannot_be_reached_is_passed_over(etcd):
    """Nothing listens on the first member's port: a write, never sent, goes to the next member;
    so does every call after it."""
    async def scenario():
        refused = f"127.0.0.1:{free_port()}"
        store = EtcdStore(EtcdClient([refused, etcd.endpoint], tls=etcd.tls, timeout=2), prefix=etcd.store().prefix)
        assert await store.put("k", {"v": 1}) is not None
        assert (await store.get("k")).value == {"v": 1}
        await store.close()
        reader = EtcdStore(EtcdClient([refused, etcd.endpoint], tls=etcd.tls, timeout=2), prefix=store.prefix)
        assert (await reader.get("k")).value == {"v": 1}
        await reader.close()
    asyncio.run(scenario())


def test_a_write_that_may_have_been_sent_is_not_sent_again(etcd):
    """A member that accepts the connection and never answers: the write may have landed there,
    so it fails (the caller reads again) and is not tried on the next member; the next call is."""
    async def scenario():
        host, port = etcd.endpoint.rsplit(":", 1)
        proxy = CuttableProxy((host, int(port)))
        proxy.cut()   # black hole: connections accepted, never answered
        store = EtcdStore(EtcdClient([proxy.endpoint, etcd.endpoint], tls=etcd.tls, timeout=0.5),
                          prefix=etcd.store().prefix)
        try:
            with pytest.raises(StoreError, match=proxy.endpoint):
                await store.put("k", {"v": 1})
            assert await store.get("k") is None
            assert await store.put("k", {"v": 1}) is not None
        finally:
            await store.close()
            proxy.close()
    asyncio.run(scenario())


def test_prefix_end_is_the_first_key_past_the_prefix():
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"") == b"\0"
