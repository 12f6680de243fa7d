"""A real coordinator (its servicers, its store, a gRPC server with the Authorization
interceptor, the Query API server) with N clusters, for the benchmarks of API latency
(scripts/bench-api, scripts/bench-control-plane). Simulated hosts (heartbeats only: no agent
runs, so clusters stay `creating`; the reconciler is not started) give placement room; the
clusters are created through the servicers. On etcd it first takes the leadership of its own
key prefix and keeps it while it serves, as a leader's writes need.

    python SCRIPT --serve DIR --clusters N [--state-store etcd://... --store-tls CA,CERT,KEY]
    # prints one JSON line (ports, the client's files, an access key), serves until stdin closes
"""
from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import time

MEMORY_MB = 10_000_000   # simulated hosts: room for every cluster asked for


async def serve(root: pathlib.Path, clusters: int, state_store: str = "", store_tls: list[str] | None = None) -> None:
    """Build the coordinator, print its ports, then wait for stdin to close."""
    import grpc
    from cachefleet.common import serving
    from cachefleet.common.tls.authz import Authorization
    from cachefleet.common.tls.files import CredentialFiles
    from cachefleet.common.tls.localfleet import FleetCaLayout, provision
    from cachefleet.common.tls.transport import Transport
    from cachefleet.v1 import cache_control_pb2 as pb
    from cachefleet.v1 import node_agent_pb2
    from coordinator.api.access import coordinator_rule
    from coordinator.server import Coordinator, CoordinatorConfig

    layout = FleetCaLayout(root / "ca")
    provision(layout.root, coordinator_sans=["127.0.0.1"], hosts={})
    tls = None if not store_tls else CredentialFiles(ca=pathlib.Path(store_tls[0]), cert=pathlib.Path(store_tls[1]),
                                                     key=pathlib.Path(store_tls[2]))
    c = Coordinator(CoordinatorConfig(listen="127.0.0.1:0", state_dir=str(root / "coordinator"), dns_backend="none",
                                      host_timeout=3600.0, query_api_listen="127.0.0.1:0",
                                      transport=Transport(layout.coordinator()), state_store=state_store,
                                      state_store_tls=tls, name="bench"))
    leading = None
    if c.elector is not None:
        await c.elector.lead()
        leading = asyncio.create_task(c.elector.run())
    await c.registry.load()
    await c.security_groups.ensure_default(c.clock(), ())
    engines = [pb.EngineInstall(engine="memcached", version="1.6.18", path="/usr/bin/memcached")]
    for i in range(1, 4):
        await c.registry.heartbeat(node_agent_pb2.HostInfo(
            host_id=f"host{i}", address=f"127.0.1.{i}", agent_endpoint=f"127.0.1.{i}:1",
            availability_zone=f"local-{'abc'[i - 1]}", memory_mb=MEMORY_MB, engines=engines,
            extra_addresses=[f"127.0.{b}.{i}" for b in range(2, 40)]), [])

    class Context:
        async def abort(self, code, details=""):
            raise RuntimeError(details)
    for n in range(clusters):
        await c.cache_control.CreateCacheCluster(pb.CreateCacheClusterRequest(
            cache_cluster_id=f"bench-{n:04d}", engine="memcached", cache_node_type="cache.t1.micro",
            num_cache_nodes=1), Context())
    server = grpc.aio.server(**serving.server_settings(), interceptors=[Authorization(coordinator_rule)])
    c.cache_control.add_to_server(server)
    port = c.config.transport.add_port(server, "127.0.0.1:0")
    await server.start()
    assert c.query_api is not None
    query_port = await c.query_api.start()
    record, secret = await c.access_keys.create("readonly", "bench", time.time())
    print(json.dumps({"grpc": port, "query": query_port, "ca": str(layout.root / "ca.crt"),
                      "client": [str(p) for p in (layout.client().ca, layout.client().cert, layout.client().key)],
                      "key": [record.access_key_id, secret]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await c.query_api.stop()
    await server.stop(0)
    if leading is not None:
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
    await c.store.close()
    if c.elector is not None:
        await c.elector.resign()
        await c.elector.client.close()
