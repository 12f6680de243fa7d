"""Crash the coordinator of a test fleet at a named failpoint, then restart it clean."""
from __future__ import annotations

import grpc

from tests.helpers.fleet import Fleet, wait_for


def crash_during(fleet: Fleet, point: str, action) -> None:
    """Run action against a coordinator armed to SIGKILL itself at `point`, then restart it clean."""
    fleet.kill_coordinator()
    fleet.start_coordinator(env={"CACHEFLEET_FAILPOINTS": point})
    try:
        action()
    except grpc.RpcError as exc:   # the coordinator may die before it answers
        assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN)
    wait_for(lambda: fleet.coordinator.poll() is not None, 10, what=f"coordinator to die at {point}")
    fleet.start_coordinator()
