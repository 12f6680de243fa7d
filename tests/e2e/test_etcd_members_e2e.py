"""A three-member etcd loses the member the store talks to (SIGKILL): the store moves on to
another member, and reads and compare-and-set writes go on without an error."""
import asyncio

from coordinator.state.store.base import ABSENT
from coordinator.state.store.etcd import EtcdStore
from tests.helpers.etcd import EtcdCluster


def test_the_store_carries_on_when_the_member_it_talks_to_is_killed(tmp_path):
    cluster = EtcdCluster(tmp_path, size=3)
    try:
        cluster.start()
        statuses = [asyncio.run(cluster.status(i)) for i in range(3)]
        # a follower first: killing the raft leader would also stall writes for an election
        first = next(i for i, status in enumerate(statuses) if status.header.member_id != status.leader)
        order = [first] + [i for i in range(3) if i != first]

        async def scenario():
            store = EtcdStore(cluster.client([cluster.endpoints[i] for i in order], timeout=2), prefix="/fleet/")
            revision = await store.put("k", {"n": 0}, ABSENT)
            cluster.kill(first)
            assert (await store.get("k")).revision == revision
            for n in range(1, 11):
                revision = await store.put("k", {"n": n}, revision)
                assert revision is not None
            assert (await store.get("k")).value == {"n": 10}
            await store.close()
        asyncio.run(scenario())
    finally:
        cluster.stop()
