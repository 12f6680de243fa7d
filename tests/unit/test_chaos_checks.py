"""scripts/chaos's checks (scripts/chaoscheck.py) on records made up for each rule: which
lost writes a promotion's window excuses, and which acknowledgements are two primaries at once."""
from __future__ import annotations

import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("chaoscheck", ROOT / "scripts" / "chaoscheck.py")
assert _spec is not None and _spec.loader is not None
chaoscheck = importlib.util.module_from_spec(_spec)
sys.modules["chaoscheck"] = chaoscheck
_spec.loader.exec_module(chaoscheck)

FaultSpan, Promotion, Write = chaoscheck.FaultSpan, chaoscheck.Promotion, chaoscheck.Write
OLD, NEW, REPLICA = "198.18.0.1:6379", "198.18.0.2:6379", "198.18.0.3:6379"
FAULT = FaultSpan(1, "#1 partition-replicas h1", start=100.0)
PROMOTION = Promotion(at=103.0, old="g1-001", new="g1-002", old_address=OLD, new_address=NEW)


def write(key: str, at: float, address: str) -> Write:
    return Write("w", key, sent=at, done=at + 0.001, address=address)


def check(writes: list[Write], missing: set[str], promotions=(PROMOTION,)):
    return chaoscheck.check_group("g1", OLD, writes, missing, list(promotions), [FAULT])


def test_writes_the_deposed_primary_acknowledged_between_the_fault_and_the_promotion_are_excused():
    writes = [write("a", 99.5, OLD), write("b", 101.0, OLD), write("c", 102.9, OLD), write("d", 104.0, NEW)]
    verdict = check(writes, missing={"b", "c"})
    assert verdict.ok
    (window,) = verdict.windows
    assert (window.acked, window.lost) == (3, 2)        # a is within the slack before the fault
    assert window.start == FAULT.start - chaoscheck.SLACK_S


def test_a_write_acknowledged_well_before_the_fault_and_lost_is_a_violation():
    verdict = check([write("a", 90.0, OLD), write("d", 104.0, NEW)], missing={"a"})
    assert [w.key for w in verdict.lost] == ["a"] and not verdict.overlaps


def test_a_write_the_new_primary_acknowledged_and_lost_is_a_violation():
    verdict = check([write("d", 104.0, NEW)], missing={"d"})
    assert [w.key for w in verdict.lost] == ["d"]


def test_the_old_primary_acknowledging_after_the_promotion_is_two_primaries_at_once():
    verdict = check([write("d", 104.0, NEW), write("e", 104.5, OLD)], missing={"e"})
    assert [w.key for w in verdict.overlaps] == ["e"]
    assert [w.key for w in verdict.lost] == ["e"]       # after the window: not excused either


def test_a_write_straddling_the_promotion_event_may_be_by_either_primary():
    straddling = Write("w", "s", sent=102.99, done=103.2, address=OLD)
    assert check([straddling], missing=set()).ok


def test_a_replica_acknowledging_a_write_is_an_overlap():
    assert [w.key for w in check([write("r", 50.0, REPLICA)], set(), promotions=()).overlaps] == ["r"]


def test_a_promotion_back_to_the_first_primary_makes_it_primary_again():
    back = Promotion(at=200.0, old="g1-002", new="g1-001", old_address=NEW, new_address=OLD)
    second = FaultSpan(2, "#2 engine-kill g1-002", start=198.0)
    writes = [write("a", 104.0, NEW), write("b", 199.0, NEW), write("c", 201.0, OLD)]
    verdict = chaoscheck.check_group("g1", OLD, writes, {"b"}, [PROMOTION, back], [FAULT, second])
    assert verdict.ok
    assert [(w.fault.index, w.acked, w.lost) for w in verdict.windows] == [(1, 0, 0), (2, 1, 1)]


def test_a_standalone_node_excuses_nothing():
    verdict = chaoscheck.check_standalone("s1", [write("a", 1.0, OLD), write("b", 2.0, OLD)], {"b"})
    assert not verdict.ok and [w.key for w in verdict.lost] == ["b"]
