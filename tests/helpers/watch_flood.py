"""A flood of WatchEvents streams from one identity, in a process of its own (so that running it
takes nothing from the process that measures): `python -m tests.helpers.watch_flood ENDPOINT
SECONDS STREAMS CHANNELS`, with the caller's certificate in CACHEFLEET_CERT, CACHEFLEET_KEY and
CACHEFLEET_CA_CERT.

STREAMS callers spread over CHANNELS connections each open a stream that replays the last hour
and then waits for events; a caller whose stream is refused or ends opens another at once, as
fast as it is answered, until SECONDS have passed. Prints `flooding` when the first calls go
out, then one JSON line: how the calls ended ("held": a stream admitted and open to the end).
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import pathlib
import sys
import time

import grpc
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc

HELD_S = 0.5    # a stream open this long before the end was admitted (a refusal comes in milliseconds)


async def flood(endpoint: str, seconds: float, streams: int, connections: int) -> dict:
    answers: collections.Counter[str] = collections.Counter()
    files = CredentialFiles(*(pathlib.Path(os.environ[name]) for name in
                              ("CACHEFLEET_CERT", "CACHEFLEET_KEY", "CACHEFLEET_CA_CERT")))
    credentials = load_channel_credentials(files)
    channels = [grpc.aio.secure_channel(endpoint, credentials, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(connections)]
    deadline = time.monotonic() + seconds

    async def caller(stub: pb_grpc.CacheControlStub) -> None:
        while (left := deadline - time.monotonic()) > 0:
            opened = time.monotonic()
            try:
                async for _ in stub.WatchEvents(pb.WatchEventsRequest(duration=60), timeout=left):
                    pass
                answers["ended"] += 1
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    # open until the end; one opened in the last moments may just not have been answered yet
                    answers["held" if deadline - opened > HELD_S else "open at the end"] += 1
                    return
                answers[f"{error.code().name} {(error.details() or '').split(':', 1)[0]}"] += 1

    stubs = [pb_grpc.CacheControlStub(channels[i % connections]) for i in range(streams)]
    tasks = [asyncio.create_task(caller(stub)) for stub in stubs]
    print("flooding", flush=True)
    await asyncio.gather(*tasks)
    await asyncio.gather(*(channel.close() for channel in channels))
    return {"answers": dict(answers)}


def main() -> None:
    endpoint, seconds, streams, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(flood(endpoint, seconds, streams, connections))), flush=True)


if __name__ == "__main__":
    main()
