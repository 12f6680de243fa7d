"""A flood of ReportMetrics, or of WatchEvents streams, from one identity against a real
coordinator: heartbeat answers stay under 100 ms throughout (measured here), the flood's
caller keeps no more than its share (series, streams), and the coordinator serves on."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import grpc
import pytest

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.localfleet import provision
from cachefleet.v1 import cache_watch_pb2 as watch_pb
from cachefleet.v1 import cache_watch_pb2_grpc as watch_grpc
from cachefleet.v1 import node_agent_pb2 as pb
from cachefleet.v1 import node_agent_pb2_grpc as pb_grpc
from cachefleet.v1 import cache_control_pb2 as control_pb
from cachefleet.v1 import cache_control_pb2_grpc as control_grpc
from coordinator.api.events import MAX_WATCHERS, MAX_WATCHERS_PER_CALLER
from coordinator.metrics.store import DEFAULT_MAX_SERIES_PER_HOST
from tests.helpers.fleet import ENV, ROOT, Fleet, free_port, wait_for

FLOOD_SECONDS = 8.0
WATCH_FLOOD_SECONDS = 4.0
WATCH_STREAMS = MAX_WATCHERS + 50        # past the coordinator's cap, let alone one caller's share
HEARTBEAT_EVERY_S = 0.02
BOUND_S = 0.100


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("flood"), hosts=0).start()
    yield f
    f.discard()


def heartbeat_latencies(stub: pb_grpc.HostRegistryStub, request: pb.HeartbeatRequest, seconds: float,
                        until=None) -> list[float]:
    """Round trips of heartbeats sent every HEARTBEAT_EVERY_S (as a simulated agent) for seconds."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (until is None or until()):
        started = time.perf_counter()
        stub.Heartbeat(request, timeout=5)
        latencies.append(time.perf_counter() - started)
        time.sleep(max(0.0, HEARTBEAT_EVERY_S - (time.perf_counter() - started)))
    return latencies


def figures(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    return (f"{len(ms)} heartbeats: median {statistics.median(ms):.1f} ms, "
            f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms")


def credential_env(files) -> dict[str, str]:
    """The environment in which a flood process finds its caller's certificate."""
    return {**ENV, "CACHEFLEET_CA_CERT": str(files.ca), "CACHEFLEET_CERT": str(files.cert),
            "CACHEFLEET_KEY": str(files.key)}


def host_files(fleet: Fleet, host_id: str):
    """The certificate of a simulated host (issued now)."""
    provision(fleet.ca.root, coordinator_sans=["127.0.0.1"], hosts={host_id: ["127.0.0.1"]})
    return fleet.ca.host(host_id)


def simulated_agent(fleet: Fleet, host_id: str) -> tuple[pb_grpc.HostRegistryStub, pb.HeartbeatRequest, grpc.Channel]:
    """A HostRegistry stub with host_id's certificate, its heartbeat, and the channel (to close)."""
    channel = grpc.secure_channel(fleet.endpoint, load_channel_credentials(host_files(fleet, host_id)))
    registry = pb_grpc.HostRegistryStub(channel)
    request = pb.HeartbeatRequest(host=pb.HostInfo(
        host_id=host_id, address="127.0.0.1", agent_endpoint=f"127.0.0.1:{free_port()}",
        availability_zone="zone-a", memory_mb=1024))
    wait_for(lambda: registry.Heartbeat(request, timeout=2), 10, what="the first heartbeat answered")
    return registry, request, channel


class Flood:
    """`python -m tests.helpers.<module> ARGS` with a caller's certificate, from its `flooding`
    line to the JSON line it ends with; killed (by its PID) if the test leaves early."""

    def __init__(self, module: str, args: list[str], files) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", f"tests.helpers.{module}", *args],
                                        env=credential_env(files), cwd=ROOT, stdout=subprocess.PIPE, text=True)

    def __enter__(self) -> Flood:
        assert self.process.stdout.readline().strip() == "flooding"
        return self

    def running(self) -> bool:
        return self.process.poll() is None

    def outcome(self) -> dict:
        outcome = json.loads(self.process.stdout.readline())
        assert self.process.wait(30) == 0
        return outcome

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def test_a_flood_of_metric_reports_from_one_identity_does_not_delay_heartbeats(fleet):
    registry, heartbeat, channel = simulated_agent(fleet, "sim-1")
    quiet = heartbeat_latencies(registry, heartbeat, 2.0)
    with Flood("flood", [fleet.endpoint, "flood-1", str(FLOOD_SECONDS)], host_files(fleet, "flood-1")) as flood:
        during = heartbeat_latencies(registry, heartbeat, FLOOD_SECONDS, until=flood.running)
        outcome = flood.outcome()
    print(f"\nquiet: {figures(quiet)}\nflood: {figures(during)}\nflood calls: {outcome}")

    answers = outcome["answers"]
    assert answers.get("OK", 0) >= 2, outcome                                  # new series were stored
    assert answers.get("INVALID_ARGUMENT InvalidParameterValue", 0) >= 2, outcome   # 4 MiB reports, read whole
    assert len(during) >= FLOOD_SECONDS / HEARTBEAT_EVERY_S / 4, figures(during)
    assert max(during) < BOUND_S, figures(during)

    watch = watch_grpc.CacheWatchStub(fleet.channel("readonly"))
    stored = watch.ListMetrics(watch_pb.ListMetricsRequest(), timeout=10).metrics
    assert 0 < len(stored) <= DEFAULT_MAX_SERIES_PER_HOST
    assert fleet.coordinator.poll() is None
    channel.close()


def test_a_flood_of_watch_streams_from_one_identity_does_not_delay_heartbeats(fleet):
    registry, heartbeat, channel = simulated_agent(fleet, "sim-2")
    args = [fleet.endpoint, str(WATCH_FLOOD_SECONDS), str(WATCH_STREAMS), "2"]
    with Flood("watch_flood", args, fleet.ca.client("readonly")) as flood:
        during = heartbeat_latencies(registry, heartbeat, WATCH_FLOOD_SECONDS - 1.0, until=flood.running)
        with fleet.channel("operator") as operator:     # another caller, while the flood still runs
            other = control_grpc.CacheControlStub(operator).WatchEvents(control_pb.WatchEventsRequest(), timeout=0.5)
            with pytest.raises(grpc.RpcError) as waited:
                next(iter(other))
        outcome = flood.outcome()
    print(f"\nwatch flood: {figures(during)}\nflood calls: {outcome}")

    answers = outcome["answers"]
    assert answers.get("held") == MAX_WATCHERS_PER_CALLER, outcome          # its share, not the cap
    assert answers.get("RESOURCE_EXHAUSTED Throttling", 0) >= WATCH_STREAMS - MAX_WATCHERS_PER_CALLER, outcome
    assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, waited.value.details()   # admitted
    assert len(during) >= (WATCH_FLOOD_SECONDS - 1.0) / HEARTBEAT_EVERY_S / 4, figures(during)
    assert max(during) < BOUND_S, figures(during)
    assert fleet.coordinator.poll() is None
    channel.close()
