"""Failsafe: a primary stays writable without a coordinator while every replica confirms it."""
from __future__ import annotations

import asyncio
import time

from cachefleet.v1 import node_agent_pb2 as pb

from nodeagent.failsafe import Failsafe, confirm
from nodeagent.lease import Lease
from nodeagent.replication import ReplicationController

PRIMARY = pb.NodeSpec(node_key="g-001-0001", role=pb.ROLE_PRIMARY, port=6400, term=3,
                      peers=[pb.Peer(node_key="g-002-0001", agent_endpoint="127.0.1.2:7421"),
                             pb.Peer(node_key="g-003-0001", agent_endpoint="127.0.1.3:7421")])
REPLICA = pb.NodeSpec(node_key="g-002-0001", role=pb.ROLE_REPLICA, primary_address="127.0.1.1",
                      primary_port=6400, term=3)
SEEN = pb.ReplicationInfo(role=pb.ROLE_REPLICA, primary_sight=pb.PRIMARY_SIGHT_SEEN)
ASK = pb.ConfirmPrimaryRequest(replica_node_key="g-002-0001", primary_address="127.0.1.1", primary_port=6400, term=3)


def test_a_replica_confirms_the_primary_it_follows_and_sees_in_its_term():
    assert confirm(REPLICA, SEEN, ASK).confirmed


def test_a_replica_refuses_a_primary_it_does_not_see_follow_or_that_is_of_an_older_term():
    silent = pb.ReplicationInfo(primary_sight=pb.PRIMARY_SIGHT_SILENT)
    assert confirm(REPLICA, silent, ASK).reason == "its host does not reach the primary's engine"
    newer = pb.NodeSpec(term=4, role=REPLICA.role, primary_address=REPLICA.primary_address,
                        primary_port=REPLICA.primary_port)
    assert confirm(newer, SEEN, ASK).reason == "it was told of term 4, newer than 3"
    other = pb.NodeSpec(term=3, role=REPLICA.role, primary_address="127.0.1.3", primary_port=REPLICA.primary_port)
    assert confirm(other, SEEN, ASK).reason == "it follows 127.0.1.3:6400"
    assert confirm(PRIMARY, SEEN, ASK).reason == "it is not a replica"      # promoted meanwhile
    assert confirm(None, None, ASK).reason == "no such node on this host"


def lapsed_lease() -> Lease:
    """The coordinator granted 1 s for g-001-0001 long ago, and has been silent since."""
    lease = Lease(margin=0.2)
    lease.granted(sent_at=0.0, lease_ms=1000, writable=["g-001-0001"])
    return lease


def run_round(lease: Lease, answers: dict[str, pb.ConfirmPrimaryResponse | Exception],
              spec: pb.NodeSpec = PRIMARY) -> list[str]:
    asked: list[str] = []

    async def ask(endpoint: str, request: pb.ConfirmPrimaryRequest, timeout: float) -> pb.ConfirmPrimaryResponse:
        asked.append(request.replica_node_key)
        answer = answers[request.replica_node_key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    woken: list[bool] = []
    asyncio.run(Failsafe(lease, lambda: [spec], "127.0.1.1", ask, lambda: woken.append(True)).renew())
    return asked


YES = pb.ConfirmPrimaryResponse(confirmed=True)


def test_every_replica_confirming_extends_the_primarys_lease_by_the_coordinators_length():
    lease = lapsed_lease()
    assert not lease.may_write("g-001-0001")
    assert sorted(run_round(lease, {"g-002-0001": YES, "g-003-0001": YES})) == ["g-002-0001", "g-003-0001"]
    assert lease.may_write("g-001-0001")


def test_one_replica_refusing_or_not_answering_leaves_the_primary_to_be_fenced():
    for answer in (pb.ConfirmPrimaryResponse(confirmed=False, reason="no"), TimeoutError()):
        lease = lapsed_lease()
        run_round(lease, {"g-002-0001": YES, "g-003-0001": answer})
        assert not lease.may_write("g-001-0001")


def test_a_primary_the_coordinator_took_back_is_never_extended():
    lease = lapsed_lease()
    lease.decide("g-001-0001", False)
    assert run_round(lease, {"g-002-0001": YES, "g-003-0001": YES}) == []
    assert not lease.may_write("g-001-0001")


def test_a_primary_with_no_replica_to_ask_is_extended_nothing_can_replace_it():
    alone = pb.NodeSpec(node_key="g-001-0001", role=pb.ROLE_PRIMARY, port=6400, term=1)
    lease = lapsed_lease()
    run_round(lease, {}, alone)
    assert lease.may_write("g-001-0001")


def test_the_coordinators_next_word_replaces_what_the_replicas_granted():
    lease = lapsed_lease()
    run_round(lease, {"g-002-0001": YES, "g-003-0001": YES})
    lease.granted(sent_at=0.0, lease_ms=1000, writable=[])
    assert not lease.may_write("g-001-0001")


def test_the_fence_comes_when_the_last_lease_of_any_kind_runs_out():
    lease = lapsed_lease()
    assert lease.fence_at() == 1.0 - 0.2
    lease.extend("g-001-0001", 5.0)
    assert lease.fence_at() == 5.0 - 0.2


class NoNodes:
    """A health monitor with nothing on it: the controller's lease bookkeeping alone."""

    def views(self) -> list:
        return []


def test_a_lapsed_lease_gets_one_failsafe_round_before_anything_is_fenced():
    """An agent that wakes from a freeze finds its lease lapsed; the replicas are asked first,
    once per lapse, and a lease they extend lapses (and is asked about) again only later."""
    lease = Lease(margin=0.0)
    lease.granted(time.monotonic() - 5, 1000, ["p-0001"])      # ran out 4 s ago, as after a freeze
    asked: list[float] = []

    async def renew() -> None:
        asked.append(time.monotonic())
        if len(asked) == 1:
            lease.extend("p-0001", time.monotonic() + 0.2)

    async def main() -> None:
        controller = ReplicationController(NoNodes(), lease, interval=0.01)   # type: ignore[arg-type]
        task = asyncio.create_task(controller.run(renew))
        deadline = time.monotonic() + 5
        while len(asked) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)     # more cycles past the second lapse: no third round
        task.cancel()

    asyncio.run(main())
    assert len(asked) == 2
    assert asked[1] - asked[0] >= 0.19     # the second round only when the extension ran out
