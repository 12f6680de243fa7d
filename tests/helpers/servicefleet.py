"""A cachefleet deployed on a network-namespace bed exactly as README.md's "Running it as a
service" says: the certificates are issued by that section's `cachefleet ca` lines and copied
where its environment files name them, the environment files are taken from its shell block,
and every unit in systemd/ is run as its ExecStartPre / ExecStart / ExecStartPost lines say,
with those values (no systemd: as root, so without the units' sandboxing or their user). The
test talks to the coordinator with the section's client certificate, and runs its CLI lines
once from the clients' namespace.

What the README's example names is mapped onto the bed: its addresses (10.0.x.y) to the bed's
198.18.0.0/15 ones, `/opt/cachefleet/venv/bin/X` to small wrappers that run this source tree,
`/var/lib/cachefleet` and `/etc/cachefleet` to directories of the member's own (each host its
own disk), `/root` to the CA machine's directory and `$HOME` to the operator's, and the `...`
secrets to the test named's TSIG secret and moto's keys. An address the README names
that the bed does not know fails loudly, so the section and the bed cannot drift apart.
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import boto3
import dns.message
import dns.query
import dns.rdatatype
import grpc
import redis

from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from tests.helpers import unitfiles
from tests.helpers.bind import NamedServer, run_named
from tests.helpers.fleet import wait_for
from tests.helpers.netns import Bed
from tests.helpers.unitfiles import command, parse_env, readme_lines, unit_lines

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV = "/opt/cachefleet/venv"
STATE = "/var/lib/cachefleet"
ETC = "/etc/cachefleet"
TLS_VARIABLES = ("CACHEFLEET_CA_CERT", "CACHEFLEET_CERT", "CACHEFLEET_KEY")
S3_PORT = 9000
AGENT_USER_HERE = "root"
TEARDOWN_GRACE_S = 3.0
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto")])}
# what the README's example addresses stand for (agent.env: host 11; coordinator.env: the rest)
EXAMPLE_ROLES = {"10.0.0.2": "coordinator", "10.0.0.53": "dns", "10.0.0.60": "s3"}
EXAMPLE_HOST_ADDRESS, EXAMPLE_HOST_EXTRA, EXAMPLE_HOST_ID, EXAMPLE_ZONE = (
    "10.0.0.11", "10.0.1.11", "cache-11", "rack-a")
SECRETS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_ADDRESS = re.compile(r"(?<![\w.])10\.\d+\.\d+\.\d+(?![\w.])")


def readme_env_files() -> dict[str, str]:
    """The environment files the README's service section writes, by file name."""
    files = unitfiles.readme_env_files()
    assert {"agent.env", "coordinator.env"} <= files.keys(), f"README's service section writes {sorted(files)}"
    return files


class ServiceFleet:
    """Coordinator, named, moto and one agent (with its supervisord) per host of `bed`."""

    def __init__(self, bed: Bed):
        self.bed = bed
        self.hosts = sorted(r for r in bed.members if re.fullmatch(r"h\d+", r))
        self.ca_machine = bed.dir / "ca-machine"     # where the README's `cachefleet ca` lines run
        self.operator_home = bed.dir / "operator"    # the README's "your own machine"
        self.named: NamedServer | None = None
        self._named_cm: Any = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._channel: grpc.Channel | None = None
        self.stub: pb_grpc.CacheControlStub | None = None
        self.venv = bed.dir / "venv"
        files = readme_env_files()
        self.coordinator_env = self._localize_env(parse_env(self._map_addresses(files["coordinator.env"], None)),
                                                  "coordinator")
        self.agent_envs = {h: self._localize_env(parse_env(self._map_addresses(files["agent.env"], h)), h)
                           for h in self.hosts}
        self.client_files: CredentialFiles | None = None
        args = self.coordinator_env["CACHEFLEET_COORDINATOR_ARGS"].split()
        self.zone = self._flag(args, "--dns-zone") or "cachefleet.internal"
        self.key_name = self._flag(args, "--tsig-key-name") or ""
        # the store snapshots go to: the name the coordinator gives, its URL from its own --store
        name = self._flag(args, "--snapshot-store") or "default"
        self.snapshot_store = next((value.partition("=")[2] for flag, value in zip(args, args[1:])
                                    if flag == "--store" and value.startswith(f"{name}=")), "")

    # -- the README's values on this bed ------------------------------------------------------

    @staticmethod
    def _flag(args: list[str], name: str) -> str | None:
        return args[args.index(name) + 1] if name in args else None

    def _map_addresses(self, text: str, host: str | None) -> str:
        members = self.bed.members
        mapping = {address: members[role].address for address, role in EXAMPLE_ROLES.items()}
        if host is not None:
            i = int(host[1:])
            mapping[EXAMPLE_HOST_ADDRESS] = members[host].address
            mapping[EXAMPLE_HOST_EXTRA] = members[host].extra_addresses[0]
            text = text.replace(EXAMPLE_HOST_ID, host).replace(EXAMPLE_ZONE, f"rack-{'abcdefgh'[i - 1]}")

        def one(match: re.Match[str]) -> str:
            if match.group(0) not in mapping:
                raise AssertionError(f"the README names {match.group(0)}, which this bed does not map")
            return mapping[match.group(0)]
        return _ADDRESS.sub(one, text)

    def _root(self, role: str) -> pathlib.Path:
        return self.bed.dir / role

    def _localize(self, words: list[str], role: str) -> list[str]:
        """Paths of a real host → this member's directory and the wrappers of this tree; the
        agent's user → root (the units' `cachefleet` user is not made here: all runs as root)."""
        state = str(self._root(role)) + STATE
        words = [w.replace(VENV, str(self.venv)).replace(STATE, state) for w in words]
        return [AGENT_USER_HERE if before == "--agent-user" else w
                for before, w in zip(["", *words[:-1]], words, strict=True)]

    def _localize_env(self, env: dict[str, str], role: str) -> dict[str, str]:
        """An environment file's paths under /etc/cachefleet → the member's own /etc."""
        etc = str(self._root(role)) + ETC
        return {key: value.replace(ETC, etc) for key, value in env.items()}

    def _cli(self, words: list[str]) -> list[str]:
        """`cachefleet ...` as this source tree runs it."""
        assert words[0] == "cachefleet", words
        return [sys.executable, "-m", "coordinator.cli", *words[1:]]

    # -- certificates, as the README issues and places them ---------------------------------------

    def _issue_certificates(self) -> None:
        """Run the README's `cachefleet ca` lines on the CA machine (the host line once per host,
        with the bed's addresses), then copy each --out directory where its member's environment
        file names the files, as `scp -p` would (the key stays 0600), and the client's to the
        operator's home."""
        outs: dict[str, pathlib.Path] = {}
        for line in readme_lines("cachefleet ca "):
            per_host = "--host" in shlex.split(line, comments=True)
            for host in self.hosts if per_host else [None]:
                words = shlex.split(self._map_addresses(line, host), comments=True)
                words = [w.replace("/root/", f"{self.ca_machine}/root/") for w in words]
                done = subprocess.run(self._cli(words), env=ENV, capture_output=True, text=True, timeout=60)
                if done.returncode != 0:
                    raise RuntimeError(f"README's {line!r} failed ({done.returncode}): {done.stderr[-2000:]}")
                if words[2] == "issue":   # whose certificate: the coordinator, hN or the client
                    holder = host or ("coordinator" if "--coordinator" in words else "client")
                    outs[holder] = pathlib.Path(self._flag(words, "--out") or "")
        missing = {"coordinator", "client", *self.hosts} - outs.keys()
        assert not missing, f"README's `cachefleet ca issue` lines issue nothing for {sorted(missing)}"
        for role, env in (("coordinator", self.coordinator_env), *self.agent_envs.items()):
            assert all(env.get(v) for v in TLS_VARIABLES), f"README's env file for {role} lacks {TLS_VARIABLES}"
            self._install(outs[role], pathlib.Path(env["CACHEFLEET_CERT"]).parent)
            CredentialFiles(cert=pathlib.Path(env["CACHEFLEET_CERT"]), key=pathlib.Path(env["CACHEFLEET_KEY"]),
                            ca=pathlib.Path(env["CACHEFLEET_CA_CERT"])).load()
        self._install(outs["client"], self.operator_home / ".cachefleet")

    @staticmethod
    def _install(source: pathlib.Path, target: pathlib.Path) -> None:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in source.iterdir():
            shutil.copy2(path, target / path.name)
            if path.suffix == ".key":
                assert (target / path.name).stat().st_mode & 0o077 == 0, f"{path} is readable by others"

    def operator_env(self) -> dict[str, str]:
        """The README's `export` line for the CLI, with this bed's coordinator and operator."""
        env: dict[str, str] = {}
        for line in readme_lines("export CACHEFLEET_"):
            for word in shlex.split(self._map_addresses(line, None))[1:]:
                key, _, value = word.partition("=")
                env[key] = value.replace("$HOME", str(self.operator_home))
        assert all(env.get(v) for v in (*TLS_VARIABLES, "CACHEFLEET_ENDPOINT")), f"README's export line: {env}"
        return env

    def run_operator_cli(self) -> str:
        """The README's CLI lines (`cachefleet describe-hosts`), from the clients' namespace."""
        env = {**ENV, **self.operator_env(), "HOME": str(self.operator_home)}
        out = []
        for line in readme_lines("cachefleet "):
            words = shlex.split(line, comments=True)
            if words[1] == "ca":
                continue
            done = self.bed.run_once("client", self._cli(words), env=env, timeout=60)
            if done.returncode != 0:
                raise RuntimeError(f"README's {line!r} failed ({done.returncode}): {done.stderr[-2000:]}")
            out.append(done.stdout)
        assert out, "README's service section runs no `cachefleet` command for the operator"
        return "\n".join(out)

    def _write_venv(self) -> None:
        """`/opt/cachefleet/venv/bin` as the units call it, running this source tree."""
        bin_dir = self.venv / "bin"
        bin_dir.mkdir(parents=True)
        for name, module in (("python", None), ("cachefleet-agent", "nodeagent"),
                             ("cachefleet-coordinator", "coordinator"), ("supervisord", "supervisor.supervisord"),
                             ("supervisorctl", "supervisor.supervisorctl")):
            run = f'exec {sys.executable} "$@"' if module is None else f'exec {sys.executable} -m {module} "$@"'
            path = bin_dir / name
            path.write_text(f"#!/bin/sh\n{run}\n")
            path.chmod(0o755)

    def _unit(self, role: str, unit: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Run one unit on a member: StateDirectory, ExecStartPre, ExecStart, ExecStartPost."""
        service = unit_lines(unit)
        full_env = {**ENV, **env}
        for directory in service.get("StateDirectory", "").split():
            (self._root(role) / STATE.lstrip("/")).joinpath(directory.removeprefix("cachefleet/")).mkdir(
                parents=True, exist_ok=True)
        for key in ("ExecStartPre",):
            if key in service:
                self._run_once(role, unit, key, self._localize(command(service[key], full_env), role), full_env)
        proc = self.bed.run(role, self._localize(command(service["ExecStart"], full_env), role),
                            log=self.bed.dir / f"{role}-{unit}.log", env=full_env, cwd=self._root(role))
        if "ExecStartPost" in service:
            self._run_once(role, unit, "ExecStartPost", self._localize(command(service["ExecStartPost"], full_env), role),
                           full_env)
        return proc

    def _run_once(self, role: str, unit: str, key: str, argv: list[str], env: dict[str, str]) -> None:
        done = self.bed.run_once(role, argv, env=env, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{unit} {key} on {role} failed ({done.returncode}): {argv}\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}")

    # -- start and stop ------------------------------------------------------------------------

    def start(self) -> ServiceFleet:
        self._write_venv()
        self.bed.dir.chmod(0o711)   # the engines' user passes through it to its data directories
        for role in ("coordinator", *self.hosts):
            self._root(role).mkdir(parents=True, exist_ok=True)
        self._issue_certificates()
        self._start_named()
        self._start_object_store()
        self.coordinator_env = self._fill_secrets(self.coordinator_env)
        self.agent_envs = {host: self._fill_secrets(env) for host, env in self.agent_envs.items()}
        self.start_unit("coordinator")
        coordinator = self.bed.members["coordinator"].address
        path = self.bed.unix_forward("client", coordinator, self._coordinator_port())
        operator = self.operator_env()
        self.client_files = CredentialFiles(cert=pathlib.Path(operator["CACHEFLEET_CERT"]),
                                            key=pathlib.Path(operator["CACHEFLEET_KEY"]),
                                            ca=pathlib.Path(operator["CACHEFLEET_CA_CERT"]))
        # the forward's socket is not the coordinator's address: check its certificate for that
        # address all the same, as a client dialling it straight would
        self._channel = grpc.secure_channel(f"unix:{path}", load_channel_credentials(self.client_files),
                                            options=[("grpc.ssl_target_name_override", coordinator)])
        self.stub = pb_grpc.CacheControlStub(self._channel)
        wait_for(self._coordinator_answers, 20, what="the coordinator to answer")
        for host in self.hosts:
            self.start_unit(f"{host}-supervisord")
            self.start_unit(f"{host}-agent")
        wait_for(lambda: sorted(h.host_id for h in self.describe_hosts() if h.status == "available") == self.hosts,
                 30, what="every agent registered")
        # each agent reaches the README's snapshot store with its own configuration and keys
        wait_for(lambda: all([(s.store_name, s.status) for s in h.stores] == [("default", "available")]
                             for h in self.describe_hosts()), 30, what="every agent's store available")
        listed = self.run_operator_cli()
        assert all(host in listed for host in self.hosts), f"the README's CLI line printed:\n{listed}"
        self.authorize_clients()
        return self

    def authorize_clients(self) -> None:
        """The clients' namespace may reach every node: the `default` security group lets it in
        (an operator's first step on a fleet whose engines take no one else)."""
        for address in self.bed.members["client"].addresses:
            self.stub.AuthorizeCacheSecurityGroupIngress(pb.AuthorizeCacheSecurityGroupIngressRequest(
                cache_security_group_name="default", cidr_ip=f"{address}/32"), timeout=10)

    def _fill_secrets(self, env: dict[str, str]) -> dict[str, str]:
        """The README's `...` values: the test named's TSIG secret, moto's keys."""
        assert self.named is not None
        return {key: (self.named.secret if key == "CACHEFLEET_TSIG_SECRET" else SECRETS[key]) if value == "..." else value
                for key, value in env.items()}

    def start_unit(self, name: str) -> subprocess.Popen[bytes]:
        """Start `coordinator`, `<host>-supervisord` or `<host>-agent` (again, as systemd's
        Restart= would once the old process is gone); its process is procs[name]."""
        if name == "coordinator":
            role, unit, env = "coordinator", "cachefleet-coordinator.service", self.coordinator_env
        else:
            role, _, kind = name.partition("-")
            unit = f"cachefleet-{kind}.service"
            env = self.agent_envs[role] if kind == "agent" else {}
        old = self.procs.get(name)
        assert old is None or old.poll() is not None, f"{name} still runs (pid {old.pid})"
        self.procs[name] = self._unit(role, unit, env)
        return self.procs[name]

    def engine_pid(self, host: str, address: str, port: int) -> int | None:
        """The redis-server serving address:port on host: a child of the host's supervisord
        (redis-server shows `address:port` in its process title)."""
        supervisord = self.procs[f"{host}-supervisord"].pid
        for pid in self.bed.children(supervisord):
            try:
                title = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.split(" ")[0].endswith("redis-server") and f"{address}:{port}" in title.split():
                return pid
        return None

    def _coordinator_port(self) -> int:
        listen = self._flag(self.coordinator_env["CACHEFLEET_COORDINATOR_ARGS"].split(), "--listen") or ":7420"
        return int(listen.rpartition(":")[2])

    def _coordinator_answers(self) -> bool:
        assert self.procs["coordinator"].poll() is None, "the coordinator exited: " + self.log("coordinator")
        self.stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(), timeout=1)
        return True

    def _start_named(self) -> None:
        directory = self.bed.dir / "named"
        directory.mkdir()
        self._named_cm = run_named(directory, host=self.bed.members["dns"].address, zone=self.zone,
                                   key_name=self.key_name, port=53)
        # started from a thread inside the dns namespace: named and its readiness probe are there
        self.named = self.bed.call("dns", self._named_cm.__enter__)

    def _start_object_store(self) -> None:
        address = self.bed.members["s3"].address
        self.bed.run("s3", [sys.executable, "-m", "moto.server", "-H", address, "-p", str(S3_PORT)],
                     log=self.bed.dir / "moto.log", env={**ENV, **SECRETS})
        wait_for(lambda: self.bed.reaches("s3", address, S3_PORT), 30, interval=0.1, what="moto listening")
        bucket = urllib.parse.urlparse(self.snapshot_store).netloc
        assert bucket, f"the README's coordinator.env names no S3 snapshot store ({self.snapshot_store!r})"
        self.bed.call("s3", lambda: self.s3().create_bucket(Bucket=bucket))

    def s3(self) -> Any:
        """A boto3 S3 client on the bed's object store: call its methods through bed.call."""
        return boto3.client("s3", endpoint_url=f"http://{self.bed.members['s3'].address}:{S3_PORT}",
                            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    def snapshot_objects(self) -> list[str]:
        """The keys under the README's snapshot store, as the object store lists them."""
        url = urllib.parse.urlparse(self.snapshot_store)

        def keys() -> list[str]:
            reply = self.s3().list_objects_v2(Bucket=url.netloc, Prefix=url.path.lstrip("/"))
            return [o["Key"] for o in reply.get("Contents", [])]
        return self.bed.call("s3", keys)

    def stop(self) -> None:
        """Everything this fleet started, by PID (the bed kills what is left in its namespaces)."""
        if self._channel is not None:
            self._channel.close()
        # the order of a host's shutdown; hosts side by side. A primary cut off from its
        # replicas waits out redis's shutdown-timeout (10 s) for them: a test needs no final
        # save, so engines get TEARDOWN_GRACE_S before SIGKILL
        for names, grace in (([f"{h}-agent" for h in self.hosts], 5.0),
                             ([f"{h}-supervisord" for h in self.hosts], TEARDOWN_GRACE_S), (["coordinator"], 5.0)):
            procs = [self.procs[n] for n in names if n in self.procs]
            if procs:
                self.bed.stop(*procs, grace=grace)
        if self._named_cm is not None:
            self._named_cm.__exit__(None, None, None)

    def __enter__(self) -> ServiceFleet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, role: str) -> str:
        """The tail of a member's unit logs, for failure messages."""
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.bed.dir.glob(f"{role}-*.log")))

    # -- what the tests ask ----------------------------------------------------------------------

    def describe_hosts(self) -> list[pb.Host]:
        return list(self.stub.DescribeHosts(pb.DescribeHostsRequest(), timeout=2).hosts)

    def cluster(self, cluster_id: str) -> pb.CacheCluster | None:
        try:
            reply = self.stub.DescribeCacheClusters(
                pb.DescribeCacheClustersRequest(cache_cluster_id=cluster_id, show_cache_node_info=True), timeout=2)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.cache_clusters[0]

    def wait_status(self, cluster_id: str, status: str, timeout: float = 20) -> pb.CacheCluster:
        return wait_for(lambda: (c := self.cluster(cluster_id)) is not None and c.cache_cluster_status == status
                        and c, timeout, what=f"{cluster_id} to be {status}")

    def events(self, source_id: str = "") -> list[pb.Event]:
        return list(self.stub.DescribeEvents(pb.DescribeEventsRequest(source_identifier=source_id), timeout=2).events)

    def clock_offset(self) -> float:
        return 0.0   # the README's coordinator runs on the real clock

    def resolve(self, name: str, role: str = "client") -> list[str]:
        """The A records named answers for `name`, asked from `role`'s namespace (the clients')."""
        def ask() -> list[str]:
            reply = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), self.named.host,
                                  port=self.named.port, timeout=1)
            return [r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]
        return self.bed.call(role, ask)

    def redis(self, address: str, port: int, role: str = "client", **kw: Any) -> redis.Redis:
        return self.bed.redis(role, address, port, **kw)

    def host_of(self, address: str) -> str:
        return self.bed.role_of(address)

    def wait_hosts(self, status: str, hosts: list[str], timeout: float) -> None:
        wait_for(lambda: all(h.status == status for h in self.describe_hosts() if h.host_id in hosts), timeout,
                 what=f"{hosts} {status}")

    def seconds_since(self, t: float) -> float:
        return time.time() - t
