"""`cachefleet-coordinator`: run the coordinator in the foreground until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import pathlib
import signal
import sys

import structlog

from cachefleet.common import gc_pauses
from cachefleet.common.logs import configure_logging
from cachefleet.common.objectstore import named
from cachefleet.common.tls import transport
from cachefleet.common.tls.files import CredentialError, CredentialFiles

from coordinator.domain.leadership import Timing
from coordinator.server import Coordinator, CoordinatorConfig

EXIT_DEPOSED = 3   # lost the leadership to another coordinator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cachefleet-coordinator", description=__doc__)
    p.add_argument("--listen", default=os.environ.get("CACHEFLEET_LISTEN", "127.0.0.1:7420"))
    p.add_argument("--state-dir", default=os.environ.get("CACHEFLEET_STATE_DIR", "state/coordinator"))
    p.add_argument("--state-store", default=os.environ.get("CACHEFLEET_STATE_STORE") or None,
                   metavar="sqlite:PATH|etcd://HOST:PORT,...[/PREFIX]",
                   help="where the desired state lives: a SQLite file (default STATE_DIR/coordinator.db) or an "
                        "etcd cluster shared by several coordinators, keys under PREFIX (default /cachefleet/) "
                        "(env CACHEFLEET_STATE_STORE)")
    p.add_argument("--state-store-ca-cert", default=os.environ.get("CACHEFLEET_STATE_STORE_CA_CERT") or None,
                   metavar="FILE", help="etcd: the CA that signed its members' certificates (default: --ca-cert)")
    p.add_argument("--state-store-cert", default=os.environ.get("CACHEFLEET_STATE_STORE_CERT") or None,
                   metavar="FILE", help="etcd: the client certificate to present (default: --cert)")
    p.add_argument("--state-store-key", default=os.environ.get("CACHEFLEET_STATE_STORE_KEY") or None,
                   metavar="FILE", help="etcd: its key (default: --key)")
    p.add_argument("--name", default=os.environ.get("CACHEFLEET_COORDINATOR_NAME") or "",
                   help="this coordinator's name among several on one etcd (default HOSTNAME/LISTEN)")
    p.add_argument("--advertise", default=os.environ.get("CACHEFLEET_ADVERTISE") or "", metavar="HOST:PORT",
                   help="etcd: the endpoint other coordinators send callers to when this one leads, as clients "
                        "and agents reach it (default --listen; give it when listening on 0.0.0.0)")
    p.add_argument("--leader-lease", type=int, default=3, metavar="SECONDS",
                   help="etcd: the leader's lease; another coordinator takes over this long after the leader "
                        "stops renewing it (default 3)")
    p.add_argument("--leader-renew-interval", type=float, default=0.5, metavar="SECONDS",
                   help="etcd: how often the leader renews its lease (default 0.5)")
    p.add_argument("--leader-retry-timeout", type=float, default=1.0, metavar="SECONDS",
                   help="etcd: how long one election call may take; the leader stops acting this long before "
                        "its lease could end (default 1); lease >= renew interval + 2 x this")
    p.add_argument("--dns-backend", choices=["hostsfile", "rfc2136", "none"], default="hostsfile")
    p.add_argument("--dns-zone", default="cachefleet.internal")
    p.add_argument("--dns-ttl", type=int, default=5)
    p.add_argument("--hosts-file", help="hostsfile backend: the file to write (default STATE_DIR/dns/hosts)")
    p.add_argument("--dns-server", default="127.0.0.1:53", help="rfc2136 backend: HOST:PORT of the primary")
    p.add_argument("--tsig-key-name", default="")
    p.add_argument("--tsig-secret", default=os.environ.get("CACHEFLEET_TSIG_SECRET", ""),
                   help="base64 secret (or env CACHEFLEET_TSIG_SECRET)")
    p.add_argument("--tsig-algorithm", default="hmac-sha256")
    p.add_argument("--standalone-replace-after", type=float, default=300.0, metavar="SECONDS",
                   help="how long a standalone redis node waits on a lost host (its data is only there) "
                        "before it is re-created empty on another host (default 300)")
    p.add_argument("--host-timeout", type=float, default=1.5,
                   help="seconds without a heartbeat after which a host is lost")
    p.add_argument("--heartbeat-interval", type=float, default=0.2)
    p.add_argument("--lease", type=float, default=1.0,
                   help="seconds an agent's primaries stay writable after its last answered heartbeat")
    p.add_argument("--heartbeats-per-second", type=float, default=500.0, metavar="N",
                   help="the fleet's heartbeats a second the coordinator answers: past N x heartbeat interval "
                        "hosts, the interval, lease and host timeout stretch together (default 500)")
    p.add_argument("--reconcile-interval", type=float, default=0.5)
    p.add_argument("--clock-offset-file", help="tests: a file holding seconds to add to the wall clock")
    p.add_argument("--notification-attempts", type=int,
                   default=int(os.environ.get("CACHEFLEET_NOTIFICATION_ATTEMPTS") or 6),
                   help="webhook POSTs per event before the failure is recorded as an event (default 6)")
    p.add_argument("--notification-backoff", type=float,
                   default=float(os.environ.get("CACHEFLEET_NOTIFICATION_BACKOFF") or 1.0),
                   help="seconds before a webhook's 2nd attempt, doubling after, at most 60 (default 1)")
    p.add_argument("--notification-allow-local-targets", action="store_true",
                   default=os.environ.get("CACHEFLEET_NOTIFICATION_ALLOW_LOCAL_TARGETS", "") not in ("", "0"),
                   help="let webhooks point at loopback, link-local and cloud metadata addresses (a local "
                        "fleet, tests; env CACHEFLEET_NOTIFICATION_ALLOW_LOCAL_TARGETS=1; default: refused)")
    p.add_argument("--default-security-group-ingress", action="append", default=[], metavar="CIDR",
                   help="a range the `default` cache security group authorizes when this coordinator first "
                        "creates it (repeatable; later, authorize-cache-security-group-ingress); default: none, "
                        "so nothing but the fleet's own hosts reaches a node until a range is authorized")
    p.add_argument("--metrics-listen", default=os.environ.get("CACHEFLEET_METRICS_LISTEN") or None,
                   metavar="HOST:PORT", help="serve Prometheus /metrics here (port 0: a free port; "
                   "env CACHEFLEET_METRICS_LISTEN; default: off)")
    p.add_argument("--metrics-retention-days", type=float, default=14.0,
                   help="days of 1-minute metric data kept in memory (default 14)")
    p.add_argument("--snapshot-store", default=os.environ.get("CACHEFLEET_SNAPSHOT_STORE") or named.DEFAULT_STORE,
                   metavar="NAME", help="the object store snapshots go to, by the name every agent has it under "
                   f"(its --store NAME=URL; env CACHEFLEET_SNAPSHOT_STORE; default {named.DEFAULT_STORE})")
    # The coordinator's own access to that store (copy, prune, delete): its own --store NAME=URL
    # (default: the directory STATE_DIR/snapshots) and its own credentials, never sent to agents.
    named.add_arguments(p)
    transport.add_arguments(p, "CACHEFLEET")
    p.add_argument("--node-ca-dir", default=os.environ.get("CACHEFLEET_NODE_CA_DIR", ""),
                   help="TLS in transit: the CA directory (ca.crt, ca.key) that signs the engines' certificates; "
                        "without it TransitEncryptionEnabled is refused")
    p.add_argument("--query-api-listen", default=os.environ.get("CACHEFLEET_QUERY_API_LISTEN") or None,
                   metavar="HOST:PORT", help="serve ElastiCache's Query API (SigV4, XML: boto3 and aws-cli) here, "
                   "HTTPS with this coordinator's certificate (default: off)")
    p.add_argument("--secrets-key-file", default=os.environ.get("CACHEFLEET_SECRETS_KEY_FILE", ""), metavar="FILE",
                   help="the key (made, 0600, when missing) that seals the secrets kept in the store: access keys' "
                   "secrets (default STATE_DIR/secrets.key) and the replication passwords of groups with AUTH "
                   "tokens or user groups (refused without this flag); keep it out of the store's backups. "
                   "Every coordinator of one store needs the same file.")
    p.add_argument("--log-format", choices=["json", "console"], default="json")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


def state_store_tls(args: argparse.Namespace, security: transport.Transport) -> CredentialFiles | None:
    """The files the coordinator shows etcd: the --state-store-* ones, else its own fleet certificate
    (plaintext only when it runs --insecure and none are given)."""
    given = (args.state_store_ca_cert, args.state_store_cert, args.state_store_key)
    if not any(given):
        return security.files
    if not all(given):
        raise ValueError("--state-store-ca-cert, --state-store-cert and --state-store-key go together")
    files = CredentialFiles(cert=pathlib.Path(args.state_store_cert), key=pathlib.Path(args.state_store_key),
                            ca=pathlib.Path(args.state_store_ca_cert))
    try:
        files.load()
    except CredentialError as error:
        raise ValueError(f"cannot use the state store's TLS files: {error}") from None
    return files


def config_from_args(args: argparse.Namespace) -> CoordinatorConfig:
    """The configuration the options ask for; ValueError (or SystemExit) says what is wrong."""
    security = transport.from_arguments(args, "coordinator")
    if args.dns_backend == "hostsfile":
        options = {"path": args.hosts_file or os.path.join(args.state_dir, "dns", "hosts"), "ttl": args.dns_ttl}
    elif args.dns_backend == "rfc2136":
        host, sep, port = args.dns_server.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"--dns-server must be HOST:PORT, got {args.dns_server!r}")
        if not args.tsig_key_name or not args.tsig_secret:
            raise SystemExit("cachefleet-coordinator: rfc2136 needs --tsig-key-name and --tsig-secret")
        base64.b64decode(args.tsig_secret, validate=True)
        options = {"server": host, "port": int(port), "key_name": args.tsig_key_name,
                   "secret": args.tsig_secret, "algorithm": args.tsig_algorithm, "ttl": args.dns_ttl}
    else:
        options = {}
    return CoordinatorConfig(listen=args.listen, state_dir=args.state_dir, dns_backend=args.dns_backend,
                             state_store=args.state_store or "", state_store_tls=state_store_tls(args, security),
                             name=args.name, advertise=args.advertise, leader_timing=Timing(ttl=args.leader_lease,
                                                                  renew_interval=args.leader_renew_interval,
                                                                  retry_timeout=args.leader_retry_timeout),
                             transport=security, node_ca_dir=args.node_ca_dir,
                             secrets_key_file=args.secrets_key_file,
                             dns_zone=args.dns_zone, dns_options=options, host_timeout=args.host_timeout,
                             standalone_replace_after=args.standalone_replace_after,
                             heartbeat_interval=args.heartbeat_interval, lease=args.lease,
                             heartbeats_per_second=args.heartbeats_per_second,
                             reconcile_interval=args.reconcile_interval,
                             clock_offset_file=args.clock_offset_file,
                             metrics_listen=args.metrics_listen,
                             query_api_listen=args.query_api_listen,
                             metrics_retention=args.metrics_retention_days * 86400,
                             notification_attempts=args.notification_attempts,
                             notification_backoff=args.notification_backoff,
                             notification_allow_local_targets=args.notification_allow_local_targets,
                             default_security_group_ingress=tuple(args.default_security_group_ingress),
                             snapshot_store=args.snapshot_store,
                             stores=named.configs_from_arguments(args))


async def serve(config: CoordinatorConfig) -> int:
    """Run until SIGTERM/SIGINT (0), or until this coordinator lost the leadership (EXIT_DEPOSED:
    its service manager starts it again, as a follower), or could not take office (1)."""
    coordinator = Coordinator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    starting = asyncio.create_task(coordinator.start())
    await asyncio.wait({stopping, starting}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await coordinator.stop()
        return 0
    starting.result()   # OSError: cannot listen
    deposed = asyncio.create_task(coordinator.deposed.wait())
    waits = {stopping, deposed} | ({coordinator.campaign} if coordinator.campaign is not None else set())
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    campaign = coordinator.campaign
    if campaign is not None and campaign.done() and not stop.is_set() and not coordinator.deposed.is_set():
        if campaign.cancelled() or campaign.exception() is not None:
            error = "cancelled" if campaign.cancelled() else str(campaign.exception())
            structlog.get_logger("coordinator").error("cannot take office", error=error)
            stopping.cancel()
            deposed.cancel()
            await coordinator.stop(grace=0)
            return 1
        await asyncio.wait({stopping, deposed}, return_when=asyncio.FIRST_COMPLETED)   # in office: lead
    stopping.cancel()
    deposed.cancel()
    if coordinator.deposed.is_set():
        await coordinator.stop(grace=0)   # no answer of a deposed leader may go out after this
        return EXIT_DEPOSED
    await coordinator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    try:
        config = config_from_args(args)
        if config.notification_attempts < 1 or config.notification_backoff < 0:
            raise ValueError("--notification-attempts must be >= 1 and --notification-backoff >= 0")
        config.check()
    except (ValueError, SystemExit) as exc:
        print(f"cachefleet-coordinator: {exc}", file=sys.stderr)
        return 2
    gc_pauses.fewer_collections()   # only in a coordinator that will serve (not one refusing its flags)
    gc_pauses.watch()
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        structlog.get_logger("coordinator").error("cannot start", error=str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
