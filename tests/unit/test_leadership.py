"""The rules of leadership (coordinator/domain/leadership.py): who may act as leader, from what
a coordinator last saw of etcd, and the lease arithmetic checked at start-up."""
from __future__ import annotations

import pytest

from coordinator.domain.leadership import Holder, Lease, Timing, judge, renewed

TIMING = Timing(ttl=10, renew_interval=2, retry_timeout=3)
MINE = Lease(id=7, alive_until=100.0)


def test_the_lease_must_outlast_two_slow_renewals():
    TIMING.check()
    with pytest.raises(ValueError, match="at least 9s"):
        Timing(ttl=8, renew_interval=2.5, retry_timeout=3).check()
    with pytest.raises(ValueError, match="positive"):
        Timing(ttl=0, renew_interval=1, retry_timeout=1).check()


def test_the_holder_of_the_key_with_a_live_lease_leads_and_guards_its_writes_with_the_keys_revision():
    verdict = judge("a", 90.0, MINE, Holder("a", 7, create_revision=42), TIMING)
    assert verdict.leading and verdict.create_revision == 42
    assert verdict.sentence == "I am a, the leader with the lease"


def test_a_coordinator_whose_lease_does_not_hold_the_key_follows():
    verdict = judge("a", 90.0, MINE, Holder("b", 8, create_revision=42), TIMING)
    assert not verdict.leading and verdict.create_revision is None
    assert verdict.sentence == "following b, the leader"
    # an earlier run of the same coordinator, whose lease is not ours, is followed too
    assert not judge("a", 90.0, MINE, Holder("a", 6, create_revision=40), TIMING).leading


def test_a_leader_that_could_not_renew_stops_acting_before_its_lease_can_end():
    holder = Holder("a", 7, create_revision=42)
    assert judge("a", 96.9, MINE, holder, TIMING).leading
    stopped = judge("a", 97.0, MINE, holder, TIMING)     # alive_until 100 - retry_timeout 3
    assert not stopped.leading and stopped.create_revision is None
    assert stopped.sentence == "not acting as leader: the lease was not renewed in time (3.0s left at most)"
    assert judge("a", 120.0, MINE, holder, TIMING).sentence.endswith("(0.0s left at most)")


def test_without_a_lease_or_a_reading_of_the_key_nobody_leads():
    assert judge("a", 1.0, None, Holder("a", 7, 42), TIMING).sentence == "not leading: no lease from etcd"
    assert judge("a", 1.0, MINE, None, TIMING).sentence == "not leading: the leadership key could not be read"


def test_a_renewal_counts_from_when_it_was_sent_and_a_lease_etcd_lost_is_gone():
    # answered late or not, etcd restarted the TTL after we sent: sent + TTL is never past its expiry
    assert renewed(MINE, sent=95.0, ttl_left=10) == Lease(7, 105.0)
    assert renewed(MINE, sent=80.0, ttl_left=10) == MINE, "an old answer never shortens what a newer one gave"
    assert renewed(MINE, sent=95.0, ttl_left=0) is None
    assert renewed(None, sent=95.0, ttl_left=10) is None
