"""scripts/chaos on a short schedule of a fixed seed: engine kills, a host's primaries cut from
their replicas, and the rest of its faults, one at a time, under writers that record every
acknowledged write; its own checks must pass (the script and its checks: scripts/chaos,
scripts/chaoscheck.py). `pytest -s` shows its report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers.fleet import ENV, ROOT

SEED = 26                # draws g1's primary's host isolated, g2's primary's engine and s1's engine killed, ...
MINUTES = 1.0            # faults are started for a minute; the fleet's start and the checks come on top
DEADLINE_S = 280.0


@pytest.mark.timeout(DEADLINE_S + 20)
def test_a_short_chaos_schedule_loses_no_acknowledged_write_outside_its_windows_and_comes_back_whole():
    if os.geteuid() != 0:
        pytest.skip("network namespaces and nftables need root")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "chaos"), "--minutes", str(MINUTES),
                             "--seed", str(SEED), "--max-fault-seconds", "6", "--recovery-timeout", "60", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)          # the script cleans its namespaces up on SIGTERM
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"scripts/chaos ran past {DEADLINE_S} s:\n{out}\n{err[-4000:]}")
    print(out)
    assert proc.returncode in (0, 1), f"scripts/chaos could not run (exit {proc.returncode}):\n{err[-4000:]}"
    report = json.loads(out.strip().splitlines()[-1])
    assert not report["violations"], report["violations"]
    assert proc.returncode == 0
    assert len(report["faults"]) >= 3, report["faults"]
    assert all(f["recovered_after"] is not None for f in report["faults"])
    assert all(c["acked"] > 0 for c in report["checks"].values()), report["checks"]
