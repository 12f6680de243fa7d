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
    f.stop()


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


def host_channel(fleet: Fleet, host_id: str) -> tuple[grpc.Channel, dict[str, str]]:
    """A channel (and the env for a subprocess) with a certificate for a simulated host."""
    provision(fleet.ca.root, coordinator_sans=["127.0.0.1"], hosts={host_id: ["127.0.0.1"]})
    files = fleet.ca.host(host_id)
    env = {**ENV, "CACHEFLEET_CA_CERT": str(files.ca), "CACHEFLEET_CERT": str(files.cert),
           "CACHEFLEET_KEY": str(files.key)}
    return grpc.secure_channel(fleet.endpoint, load_channel_credentials(files)), env


def test_a_flood_of_metric_reports_from_one_identity_does_not_delay_heartbeats(fleet):
    channel, _ = host_channel(fleet, "sim-1")
    _, flood_env = host_channel(fleet, "flood-1")
    registry = pb_grpc.HostRegistryStub(channel)
    simulated_agent = pb.HeartbeatRequest(host=pb.HostInfo(
        host_id="sim-1", address="127.0.0.1", agent_endpoint=f"127.0.0.1:{free_port()}",
        availability_zone="zone-a", memory_mb=1024))
    wait_for(lambda: registry.Heartbeat(simulated_agent, timeout=2), 10, what="the first heartbeat answered")
    quiet = heartbeat_latencies(registry, simulated_agent, 2.0)

    flood = subprocess.Popen([sys.executable, "-m", "tests.helpers.flood", fleet.endpoint, "flood-1",
                              str(FLOOD_SECONDS)], env=flood_env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout.readline().strip() == "flooding"
        during = heartbeat_latencies(registry, simulated_agent, FLOOD_SECONDS, until=lambda: flood.poll() is None)
        outcome = json.loads(flood.stdout.readline())
        assert flood.wait(30) == 0
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait(10)
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


def simulated_agent(fleet: Fleet, host_id: str) -> tuple[pb_grpc.HostRegistryStub, pb.HeartbeatRequest, grpc.Channel]:
    channel, _ = host_channel(fleet, host_id)
    registry = pb_grpc.HostRegistryStub(channel)
    request = pb.HeartbeatRequest(host=pb.HostInfo(
        host_id=host_id, address="127.0.0.1", agent_endpoint=f"127.0.0.1:{free_port()}",
        availability_zone="zone-a", memory_mb=1024))
    wait_for(lambda: registry.Heartbeat(request, timeout=2), 10, what="the first heartbeat answered")
    return registry, request, channel


def test_a_flood_of_watch_streams_from_one_identity_does_not_delay_heartbeats(fleet):
    registry, heartbeat, channel = simulated_agent(fleet, "sim-2")
    files = fleet.ca.client("readonly")
    env = {**ENV, "CACHEFLEET_CA_CERT": str(files.ca), "CACHEFLEET_CERT": str(files.cert),
           "CACHEFLEET_KEY": str(files.key)}
    flood = subprocess.Popen([sys.executable, "-m", "tests.helpers.watch_flood", fleet.endpoint,
                              str(WATCH_FLOOD_SECONDS), str(WATCH_STREAMS), "2"],
                             env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout.readline().strip() == "flooding"
        during = heartbeat_latencies(registry, heartbeat, WATCH_FLOOD_SECONDS - 1.0,
                                     until=lambda: flood.poll() is None)
        with fleet.channel("operator") as operator:     # another caller, while the flood still runs
            other = control_grpc.CacheControlStub(operator).WatchEvents(control_pb.WatchEventsRequest(), timeout=0.5)
            with pytest.raises(grpc.RpcError) as waited:
                next(iter(other))
        outcome = json.loads(flood.stdout.readline())
        assert flood.wait(30) == 0
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait(10)
    print(f"\nwatch flood: {figures(during)}\nflood calls: {outcome}")

    answers = outcome["answers"]
    assert answers.get("held") == MAX_WATCHERS_PER_CALLER, outcome          # its share, not the cap
    assert answers.get("RESOURCE_EXHAUSTED Throttling", 0) >= WATCH_STREAMS - MAX_WATCHERS_PER_CALLER, outcome
    assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, waited.value.details()   # admitted
    assert len(during) >= (WATCH_FLOOD_SECONDS - 1.0) / HEARTBEAT_EVERY_S / 4, figures(during)
    assert max(during) < BOUND_S, figures(during)
    assert fleet.coordinator.poll() is None
    channel.close()
