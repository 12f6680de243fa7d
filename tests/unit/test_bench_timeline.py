"""scripts/benchtimeline.py: a failover's steps, read from the fleet's JSON log as bench-failover does."""
from __future__ import annotations

import datetime
import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("benchtimeline", ROOT / "scripts" / "benchtimeline.py")
assert _spec is not None and _spec.loader is not None
benchtimeline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchtimeline)

KILL = 1_800_000_000.0


def line(after_ms: float, event: str, **fields: object) -> str:
    stamp = datetime.datetime.fromtimestamp(KILL + after_ms / 1000, datetime.UTC)
    return json.dumps({**fields, "event": event, "timestamp": stamp.isoformat().replace("+00:00", "Z")})


def test_a_failovers_steps_are_read_from_the_fleets_json_log_even_where_two_processes_wrote_one_line(tmp_path):
    log = tmp_path / "up.log"
    log.write_text(line(-500, "node report changed", node_key="g-001-0001", status="NODE_STATUS_STOPPED") + "\n")
    cursor = benchtimeline.LogCursor(log)
    cursor.mark()                                     # what came before the kill is not read
    with log.open("a") as out:
        out.write("cachefleet is up: a banner line, not JSON\n")
        out.write(line(1, "engine dropped the agent's connection", node_key="g-001-0001") + "\n")
        # two processes at once: both objects, then both newlines
        out.write(line(3, "node report changed", node_key="g-002-0001", link_status="LINK_STATE_DOWN")
                  + line(9, "node report changed", node_key="g-001-0001", status="NODE_STATUS_STOPPED") + "\n\n")
        out.write(line(12, "node report changed", node_key="g-003-0001", link_status="LINK_STATE_DOWN") + "\n")
        out.write(line(15, "failover ordered", group_id="g") + "\n")
        out.write(line(19, "dns.synced", changed=["g.primary.zone", "g.reader.zone"]) + "\n")
        out.write(line(21, "replication changed", node_key="g-002-0001", action="promoted") + "\n")
    steps = benchtimeline.timeline(cursor.entries(), KILL, "g-001-0001", "g-002-0001", ["g-002-0001", "g-003-0001"],
                                   "g", "G.primary.zone")
    assert {k: round(v * 1000) for k, v in steps.items()} == {
        "detect": 1, "report": 9, "replicas": 12, "decide": 15, "promote": 21, "dns": 19}
    assert benchtimeline.line({**steps, "client": 0.024}) == (
        "detect 1 ms, report 9 ms, replicas 12 ms, decide 15 ms, promote 21 ms, dns 19 ms, client 24 ms")


def test_a_killed_hosts_agent_started_again_is_no_part_of_the_failovers_detection(tmp_path):
    log = tmp_path / "up.log"
    log.write_text("\n".join([
        line(1500, "failover ordered", group_id="g"),
        line(1790, "node status changed", node_key="g-001-0001", status="stopped"),    # the new agent, after
        line(1795, "node report changed", node_key="g-001-0001", status="NODE_STATUS_STOPPED")]) + "\n")
    steps = benchtimeline.timeline(benchtimeline.LogCursor(log).entries(), KILL, "g-001-0001", "g-002-0001",
                                   ["g-002-0001"], "g", "g.primary.zone")
    assert (steps["detect"], steps["report"], round(steps["decide"], 3)) == (None, None, 1.5)
