"""cachefleet-agent: the node agent daemon of one host.

Startup order: engines discovered, supervisord attached (or started), nodes
recovered, gRPC server bound, then health probes, heartbeats and the check of the
object stores (beside them: a store that does not answer never delays the first
heartbeat; its failure reaches the log and DescribeHosts once it is known). SIGTERM or
SIGINT stops the gRPC server gracefully and leaves supervisord and the engines
running: an agent restart or upgrade never restarts a cache engine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

import grpc
import structlog
from cachefleet.v1 import node_agent_pb2, node_agent_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nodeagent import engineuser
from nodeagent.discovery import DiscoveryServer
from nodeagent.firewall import DEFAULT_TABLE, TABLE_NAME, HostFirewall
from nodeagent.engines import discover
from nodeagent.coordinators import Coordinators
from nodeagent.coordinators import parse as parse_coordinators
from nodeagent.heartbeat import CHANNEL_OPTIONS, Heartbeater
from nodeagent.health import HealthMonitor
from nodeagent.hostinfo import build_host_info, memory_mb
from nodeagent.layout import StateDir, write_atomic
from nodeagent.libc import limit_malloc_arenas
from nodeagent.epoch import EpochBook, StaleLeaderGate
from nodeagent.failsafe import Failsafe
from nodeagent.lease import Lease
from nodeagent.peers import PeerClients
from cachefleet.common import serving
from cachefleet.common.logs import configure_logging
from cachefleet.common.objectstore import named
from cachefleet.common.system_users import DEFAULT_ENGINE_USER
from cachefleet.common.tls import transport
from cachefleet.common.tls.authz import Authorization
from nodeagent.access import agent_rule
from nodeagent.metrics import DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MetricsSampler
from nodeagent.nodes import NodeManager
from nodeagent.replication import ReplicationController
from nodeagent.service import NodeAgentService
from nodeagent.stores import AgentStores
from nodeagent.supervisor import SupervisorError, Supervisord

log = structlog.get_logger("nodeagent.main")

NODE_AGENT_SERVICE = node_agent_pb2.DESCRIPTOR.services_by_name["NodeAgent"].full_name
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
STOP_GRACE_S = 2.0
FIRST_ANSWER_WAIT_S = 1.0   # the heartbeat's own deadline: a coordinator that is away fails it by then


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cachefleet-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True,
                        help="IP address the cache engines bind to (this host's address)")
    parser.add_argument("--extra-address", action="append", default=[], metavar="ADDRESS",
                        help="another address of this host a node may bind to; repeatable")
    parser.add_argument("--listen", help="HOST:PORT of the agent's gRPC server "
                        "(default ADDRESS:7421; port 0 picks a free port, reported in heartbeats)")
    parser.add_argument("--host-id", help="this host's id in the fleet (default: --address)")
    parser.add_argument("--zone", default="local-a", help="availability zone (default local-a)")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="memory the coordinator may place on this host (default: MemTotal)")
    parser.add_argument("--coordinator", default="127.0.0.1:7420",
                        help="HOST:PORT of the coordinator's HostRegistry, or of each of several coordinators, "
                        "comma-separated: the agent reports to the one that answers (default 127.0.0.1:7420)")
    parser.add_argument("--state-dir", required=True,
                        help="directory of supervisord, program files, node specs, logs and data")
    parser.add_argument("--engine-user", default=None, metavar="USER",
                        help="the user supervisord runs the engines as, which must not be the agent's "
                        f"(default {DEFAULT_ENGINE_USER} when the agent runs as root; supervisord must "
                        "then run as root; '' runs them as supervisord's own user)")
    parser.add_argument("--engine-path", action="append", default=[], metavar="PATH",
                        help="an extra engine binary (or directory of them); repeatable")
    parser.add_argument("--heartbeat-interval", type=float, default=0.25,
                        help="seconds between heartbeats (default 0.25; the coordinator may override)")
    parser.add_argument("--fail-after", type=float, default=3.0,
                        help="seconds a node may not serve before it is reported failed (default 3)")
    parser.add_argument("--fence-margin", type=float, default=0.2,
                        help="seconds before the coordinator's write lease runs out that primaries "
                        "stop taking writes (default 0.2)")
    parser.add_argument("--metrics-interval", type=float,
                        default=float(os.environ.get("CACHEFLEET_METRICS_INTERVAL") or DEFAULT_INTERVAL_S),
                        help=f"seconds between metric samples of every node (default {DEFAULT_INTERVAL_S:g}, "
                        f"at most {MAX_INTERVAL_S:g}; env CACHEFLEET_METRICS_INTERVAL)")
    parser.add_argument("--firewall-table", default=os.environ.get("CACHEFLEET_FIREWALL_TABLE") or DEFAULT_TABLE,
                        metavar="NAME", help="the nftables table (family inet) that enforces cache security groups "
                        f"on this host (default {DEFAULT_TABLE}; one per agent when several share a network "
                        "namespace; env CACHEFLEET_FIREWALL_TABLE)")
    named.add_arguments(parser)
    transport.add_arguments(parser, "CACHEFLEET")
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    args = parser.parse_args(argv)
    try:
        args.stores = named.configs_from_arguments(args)
    except ValueError as error:
        parser.error(str(error))
    if not 0 < args.metrics_interval <= MAX_INTERVAL_S:
        parser.error(f"--metrics-interval must be more than 0 and at most {MAX_INTERVAL_S:g}")
    if args.fence_margin < 0:
        parser.error("--fence-margin must not be negative")
    if not TABLE_NAME.fullmatch(args.firewall_table):
        parser.error("--firewall-table must be a letter then up to 63 letters, digits or underscores")
    args.listen = args.listen or f"{args.address}:7421"
    args.host_id = args.host_id or args.address
    if args.memory_mb is None:
        args.memory_mb = memory_mb()
    return args


def advertised_endpoint(listen: str, port: int, address: str) -> str:
    """The endpoint others can dial: the listen host, or --address when listening on a wildcard."""
    host = listen.rsplit(":", 1)[0]
    return f"{address if host in WILDCARDS else host}:{port}"


async def serve(args: argparse.Namespace) -> None:
    structlog.contextvars.bind_contextvars(host_id=args.host_id)
    engine_user = engineuser.resolve(args.engine_user)
    state = StateDir.at(args.state_dir, engine_user.gid if engine_user else None)
    state.ensure()
    if engine_user is None:
        engineuser.warn_unswitched()
    else:
        engineuser.check_reach(engine_user, state.data_root)
        log.info("engines run as their own user", engine_user=engine_user.name, uid=engine_user.uid)
    installs = await asyncio.to_thread(discover, args.engine_path)
    firewall = HostFirewall(args.firewall_table, state_file=state.root / "firewall.json")
    if await firewall.check():
        await firewall.restore()   # before supervisord and any engine start: after a reboot, shut before open
    supervisor = Supervisord(state)
    await supervisor.ensure_running()

    changed = asyncio.Event()
    monitor = HealthMonitor(supervisor, state, args.address, on_change=changed.set,
                            fail_after=args.fail_after)
    lease = Lease(args.fence_margin, state.lease_file)
    lease.load()
    replication = ReplicationController(monitor, lease)
    stores = AgentStores(args.stores, args.host_id)
    nodes = NodeManager(state, supervisor, monitor, replication, installs,
                        [args.address, *args.extra_address],
                        engine_user=engine_user.name if engine_user else None, stores=stores)
    await nodes.recover()
    discovery = DiscoveryServer(state.root / "discovery.json", data_dir=state.data_dir)
    await discovery.restore()

    security: transport.Transport = args.transport
    epochs = EpochBook(state.epoch_file)   # before serving: a restarted agent refuses what it refused before
    epochs.load()
    interceptors: list[grpc.aio.ServerInterceptor] = [Authorization(agent_rule)] if security.secure else []
    interceptors.append(StaleLeaderGate(epochs))   # after the authorization: who asks comes first
    server = grpc.aio.server(**serving.server_settings(), interceptors=interceptors)   # limits; no SO_REUSEPORT
    port = security.add_port(server, args.listen)
    endpoint = advertised_endpoint(args.listen, port, args.address)
    host = build_host_info(args.host_id, args.address, endpoint, args.zone, args.memory_mb, installs,
                           args.extra_address)
    stores.report_to(host, changed.set)   # every heartbeat carries what the last check found
    node_agent_pb2_grpc.add_NodeAgentServicer_to_server(NodeAgentService(nodes, host, discovery, firewall), server)
    health_servicer = health.aio.HealthServicer()
    await health_servicer.set(NODE_AGENT_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (NODE_AGENT_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    await server.start()
    write_atomic(state.agent_info, json.dumps(
        {"pid": os.getpid(), "endpoint": endpoint, "agent_instance_id": host.agent_instance_id}) + "\n")
    log.info("agent serving", endpoint=endpoint, address=args.address, zone=args.zone,
             coordinator=args.coordinator, instance_id=host.agent_instance_id)

    coordinators = Coordinators(args.coordinators, security, CHANNEL_OPTIONS)
    heartbeater = Heartbeater(coordinators, host, nodes.list, changed, lease, replication.wake,
                              args.heartbeat_interval, epochs=epochs)
    peers = PeerClients(security)
    failsafe = Failsafe(lease, lambda: [view.spec for view in monitor.views()], args.address, peers.confirm_primary,
                        replication.wake)
    tasks = [asyncio.create_task(monitor.run(), name="health"),
             asyncio.create_task(heartbeater.run(), name="heartbeat"),
             asyncio.create_task(stores.run(), name="stores")]
    # A restarted agent judges its primaries' leases only once it has asked for them (a
    # heartbeat, else the failsafe): while it was away nothing fenced them and the engines'
    # own guard held, so fencing them now on a lease that lapsed meanwhile would only fail
    # writes for nothing.
    await heartbeater.first_answer(FIRST_ANSWER_WAIT_S)
    if lease.overdue():
        await failsafe.renew()
    tasks += [asyncio.create_task(replication.run(failsafe.renew), name="replication"),
              asyncio.create_task(failsafe.run(), name="failsafe"),
              asyncio.create_task(nodes.parameters.run(), name="parameters"),
              asyncio.create_task(MetricsSampler(monitor, args.host_id, coordinators,
                                                 args.metrics_interval).run(), name="metrics")]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    log.info("agent stopping; supervisord and engines keep running")
    await health_servicer.enter_graceful_shutdown()
    await server.stop(STOP_GRACE_S)
    await discovery.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await coordinators.close()
    monitor.history.flush_all()     # the last writes seen: a restart compares its data with them
    await peers.close()
    supervisor.close()
    state.agent_info.unlink(missing_ok=True)
    log.info("agent stopped")


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()
    args = parse_args(argv)
    configure_logging(args.log_format)
    try:
        args.transport = transport.from_arguments(args, "agent")
        args.coordinators = parse_coordinators(args.coordinator)
    except ValueError as error:
        print(f"cachefleet-agent: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except (SupervisorError, RuntimeError, OSError, engineuser.EngineUserError) as error:
        log.error("agent cannot run", error=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
