"""A flood of ReportMetrics from one identity, in a process of its own (so that building and
sending it takes nothing from the process that measures): `python -m tests.helpers.flood
ENDPOINT HOST_ID SECONDS [CALLERS]`.

CALLERS concurrent callers on one channel send, as fast as they are answered, reports
cycling through two shapes: the largest message the coordinator takes (just under 4 MiB,
about 8 000 samples: refused for its sample count, but read whole first) and 1 000-sample
reports of made-up nodes, every one of them new series (about 21 000). The messages are
serialized once, before the clock starts. Prints `flooding` when the first calls go out, then
one JSON line: calls per answer, bytes sent.
"""
from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import pathlib
import sys
import time

import grpc
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.files import CredentialFiles

from cachefleet.v1 import node_agent_pb2 as pb
from coordinator.metrics.names import METRICS

METHOD = "/cachefleet.v1.HostMetrics/ReportMetrics"
LIMIT = 4 * 1024 * 1024 - 4096       # under the servers' 4 MiB, with room for the frame
GROW = 500                           # samples added between two looks at the size


def report(host_id: str, prefix: str, samples: int | None) -> bytes:
    """samples made-up nodes (None: as many as fit under LIMIT), each with every metric.

    ByteSize() walks the whole message, so "as many as fit" grows by GROW samples between two
    looks and then cuts back to fit (asking after every sample took 40 s for 8 000 samples)."""
    request = pb.ReportMetricsRequest(host_id=host_id)
    values = {name: 1.0 for name in METRICS}

    def add(count: int) -> None:
        for _ in range(count):
            sample = request.samples.add(cache_cluster_id=f"{prefix}-{len(request.samples)}", cache_node_id="0001")
            sample.values.update(values)

    if samples is not None:
        add(samples)
        return request.SerializeToString()
    while (size := request.ByteSize()) <= LIMIT:
        add(GROW)
    while size > LIMIT:
        over = math.ceil((size - LIMIT) / (size / len(request.samples)))
        del request.samples[-max(1, over):]
        size = request.ByteSize()
    return request.SerializeToString()


async def flood(endpoint: str, host_id: str, seconds: float, callers: int) -> dict:
    largest = report(host_id, "huge", None)
    new_series = [report(host_id, f"f{k}", 1000) for k in range(16)]
    answers: collections.Counter[str] = collections.Counter()
    sent = 0
    files = CredentialFiles(*(pathlib.Path(os.environ[name]) for name in
                              ("CACHEFLEET_CERT", "CACHEFLEET_KEY", "CACHEFLEET_CA_CERT")))
    async with grpc.aio.secure_channel(endpoint, load_channel_credentials(files)) as channel:
        call = channel.unary_unary(METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        deadline = time.monotonic() + seconds
        print("flooding", flush=True)

        async def caller(me: int) -> None:
            nonlocal sent
            n = me
            while time.monotonic() < deadline:
                message = largest if n % 2 else new_series[(n // 2) % len(new_series)]
                n += 1
                try:
                    await call(message, timeout=10)
                    answers["OK"] += 1
                except grpc.aio.AioRpcError as error:
                    answers[f"{error.code().name} {(error.details() or '').split(':', 1)[0]}"] += 1
                sent += len(message)
        await asyncio.gather(*(caller(i) for i in range(callers)))
    return {"answers": dict(answers), "bytes_sent": sent, "largest_bytes": len(largest),
            "new_series_report_bytes": len(new_series[0])}


def main() -> None:
    endpoint, host_id, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    callers = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    print(json.dumps(asyncio.run(flood(endpoint, host_id, seconds, callers))), flush=True)


if __name__ == "__main__":
    main()
