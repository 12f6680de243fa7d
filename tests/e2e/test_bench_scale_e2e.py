"""scripts/bench-scale, run small so that it cannot rot: a real coordinator against 50 simulated
hosts (their own certificates, servers and heartbeats), its one JSON object read back."""
from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.helpers.fleet import ENV, ROOT

KEYS = ("heartbeat_p50_ms", "heartbeat_p99_ms", "cycle_p50_ms", "cycle_p99_ms", "describe_p50_ms", "describe_p99_ms",
        "create_p50_ms", "create_p99_ms", "creates_available_s", "failover_decision_ms", "rss_mb", "cpu_cores")


def test_bench_scale_reports_every_figure_of_a_small_simulated_fleet():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench-scale"), "--hosts", "50", "--nodes", "60",
                           "--window", "2", "--json"], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["hosts"] == 50 and figures["nodes"] == 60 and figures["store"] == "sqlite"
    for key in KEYS:
        assert isinstance(figures[key], float) and math.isfinite(figures[key]) and figures[key] > 0, (key, figures)
    assert figures["heartbeats"] > 50 and figures["heartbeat_errors"] == 0   # every host beat, none refused
    assert figures["cycles"] > 0
    assert figures["heartbeat_p50_ms"] <= figures["heartbeat_p99_ms"] < 2000
    assert figures["failover_decision_ms"] < 10_000    # the promotion order reached the simulated replica
    assert 30 < figures["rss_mb"] < 4096
