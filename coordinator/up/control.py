"""The control plane of `cachefleet up --coordinators N`: an N-member etcd on 127.0.0.1 and N
coordinators on it, one of which leads (the others wait, and take over when it dies).

    DIR/etcd/etcd<k>/        member k's data          DIR/etcd/etcd<k>.log   its log
    DIR/coordinators/coordinator<k>/   coordinator k's own directory (its state is in etcd)
    DIR/run/endpoint         every coordinator's HOST:PORT, comma-separated, the leader's first:
                             where the CLI looks

Ports, unless given one per member: coordinator k listens on --listen's port + 10 (k - 1)
(7420, 7430, 7440), its Query API on --query-api-listen's port + k - 1 (7480, 7481, 7482),
etcd member k on --etcd-port + 2 (k - 1) for clients and the next port for its peers (7490/7491,
7492/7493, 7494/7495), all on 127.0.0.1. Client and peer traffic of etcd is mutual TLS with the
fleet CA's coordinator certificate (what the coordinators show it too), unless --insecure.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import grpc

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.files import CredentialError, CredentialFiles
from cachefleet.etcd import rpc_pb2, rpc_pb2_grpc

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
DEFAULT_ETCD_PORT = 7490
ETCD_HEARTBEAT_MS, ETCD_ELECTION_MS = 100, 500   # raft timing of the members (one machine: loopback)
COORDINATOR_PORT_STEP = 10      # coordinator k on --listen's port + 10 (k - 1)
COORDINATOR_COUNTS = (1, 3, 5)   # 1: one coordinator on SQLite; 3 or 5: on an etcd of as many members
DEPOSED = 3   # a coordinator's exit status when it lost the leadership (coordinator.main.EXIT_DEPOSED)
ENDPOINT_FILE = "endpoint"      # in DIR/run/: what the CLI dials when given no endpoint


def spread(value: str, count: int, step: int) -> list[str]:
    """count HOST:PORT addresses from value: a comma-separated list of exactly count, or one
    address whose port is that of the first, the next ones `step` apart."""
    given = [part.strip() for part in value.split(",") if part.strip()]
    if len(given) == count:
        return given
    if len(given) != 1:
        raise ValueError(f"expected one HOST:PORT or {count} of them, got {value!r}")
    host, sep, port = given[0].rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {given[0]!r}")
    return [f"{host}:{int(port) + step * k}" for k in range(count)]


@dataclasses.dataclass(frozen=True)
class EtcdMember:
    index: int               # 1-based
    client_port: int
    root: pathlib.Path       # DIR/etcd

    @property
    def name(self) -> str:
        return f"etcd{self.index}"

    @property
    def peer_port(self) -> int:
        return self.client_port + 1

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def data_dir(self) -> pathlib.Path:
        return self.root / self.name

    @property
    def log_file(self) -> pathlib.Path:
        return self.root / f"{self.name}.log"


def members(root: pathlib.Path, count: int, first_port: int) -> list[EtcdMember]:
    return [EtcdMember(k, first_port + 2 * (k - 1), root) for k in range(1, count + 1)]


def store_spec(etcd: list[EtcdMember]) -> str:
    """What the coordinators are given as --state-store (records under /cachefleet/)."""
    return "etcd://" + ",".join(m.endpoint for m in etcd)


def etcd_argv(member: EtcdMember, etcd: list[EtcdMember], tls: CredentialFiles | None) -> list[str]:
    """One member of a new cluster (a member whose data directory holds data rejoins with it and
    ignores the --initial-* options). Compaction keeps an hour of history: the store never reads
    old revisions."""
    scheme = "http" if tls is None else "https"
    cluster = ",".join(f"{m.name}={scheme}://127.0.0.1:{m.peer_port}" for m in etcd)
    argv = [ETCD, "--name", member.name, "--data-dir", str(member.data_dir),
            "--listen-client-urls", f"{scheme}://{member.endpoint}",
            "--advertise-client-urls", f"{scheme}://{member.endpoint}",
            "--listen-peer-urls", f"{scheme}://127.0.0.1:{member.peer_port}",
            "--initial-advertise-peer-urls", f"{scheme}://127.0.0.1:{member.peer_port}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "cachefleet-up",
            "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
            # a new raft leader within 0.5-1 s of losing one (etcd's defaults take 1-2 s): well inside
            # the coordinators' renew deadline, so losing a member never costs the coordinators' leader
            "--heartbeat-interval", str(ETCD_HEARTBEAT_MS), "--election-timeout", str(ETCD_ELECTION_MS),
            "--logger", "zap", "--log-level", "warn"]   # to stderr: `up` sends it to the log file
    if tls is not None:
        cert, key, trusted = str(tls.cert), str(tls.key), str(tls.ca)
        argv += ["--cert-file", cert, "--key-file", key, "--trusted-ca-file", trusted, "--client-cert-auth",
                 "--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", trusted,
                 "--peer-client-cert-auth"]
    return argv


def state_store_flags(etcd: list[EtcdMember], tls: CredentialFiles | None) -> list[str]:
    flags = ["--state-store", store_spec(etcd)]
    if tls is not None:
        flags += ["--state-store-ca-cert", str(tls.ca), "--state-store-cert", str(tls.cert),
                  "--state-store-key", str(tls.key)]
    return flags


def lease_flags(lease: int) -> list[str]:
    """The coordinators' leader lease (0: their default), with the retry timeout that fits it:
    renewals every 0.5 s, two calls of the retry timeout within the lease, 1 s at the most."""
    if not lease:
        return []
    return ["--leader-lease", str(lease), "--leader-retry-timeout", f"{min(1.0, (lease - 0.5) / 2):g}"]


def etcd_answers(member: EtcdMember, tls: CredentialFiles | None, timeout: float = 1.0) -> bool:
    """Whether the member answers a linearizable read (so the cluster has a leader and a quorum)."""
    try:
        with _channel(member, tls) as channel:
            rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"/cachefleet/ready"), timeout=timeout)
    except (grpc.RpcError, CredentialError):
        return False
    return True


def _channel(member: EtcdMember, tls: CredentialFiles | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(member.endpoint)
    return grpc.secure_channel(member.endpoint, load_channel_credentials(tls))


def leader(etcd: list[EtcdMember], tls: CredentialFiles | None, prefix: str = "/cachefleet/",
           timeout: float = 1.0) -> str | None:
    """The name the leading coordinator wrote in the leadership key (None: nobody leads, or no
    member answers)."""
    for member in etcd:
        try:
            with _channel(member, tls) as channel:
                answer = rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=(prefix + "leader").encode()),
                                                            timeout=timeout)
        except (grpc.RpcError, CredentialError):
            continue
        if not answer.kvs:
            return None
        try:
            return str(json.loads(answer.kvs[0].value)["name"])
        except (ValueError, KeyError, TypeError):
            return None
    return None
