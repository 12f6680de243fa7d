"""bench-failover's partition row: a primary's host cut off from the coordinator and the
replicas' hosts while clients still reach it, beside Redis Sentinel cut off the same way.

Both sides run in network-namespace beds (tests/helpers/netns.py), one namespace a host,
and the cut is the bed's nftables drop, both ways, between the primary's host and every
other host and the control plane; the client namespace still reaches the primary.

  - cachefleet: the fleet deployed as README's "Running it as a service" says
    (tests/helpers/servicefleet.py: coordinator, BIND named, an S3 store, one agent and its
    supervisord a host), on 4 hosts with a second address each, holding a replication group
    of 3 members on 3 hosts (the 4th has room for the member the cut host takes away, so
    every run starts with one member a host). The primary's host is cut from the coordinator
    and every other host, then healed once the promotion is seen, and the next run waits
    until the group is whole again, one member a host.
  - Redis Sentinel: a bed of 3 hosts and a `witness` namespace; a redis-server on each host
    (a master, two replicas; the managed engines' settings) and 3 sentinels (quorum 2,
    down-after-milliseconds 1000, failover-timeout 3000), one beside each replica and one on
    the witness, started afresh at every run in that layout around the current master. The
    master's host is cut from the other hosts and the witness, then healed; the sentinels
    turn the old master into a replica. Measured twice: as users run it (no write guard), and
    with min-replicas-to-write 1 / min-replicas-max-lag 1 on every redis-server.

In each run, from the client namespace, with 0.5 s socket timeouts:

  - the cut comes after a random pause of up to a second once writes flow, so that the runs
    meet redis's whole-second lag arithmetic at every phase;
  - a prober opens a new connection for every SET (one per 20 ms) to where the endpoint
    points at that moment: cachefleet's primary endpoint name asked of named, Sentinel's
    master asked of the sentinels (redis-py's Sentinel.discover_master). promotion: from the
    cut to the first SET a node other than the old primary acknowledged;
  - a held writer SETs a new key every 10 ms on one connection to the old primary's address,
    opened before the cut and kept (reopened to the same address only if it breaks): a
    client that still reaches the old primary. first refusal: from the cut to its first
    -NOREPLICAS (or -READONLY);
  - an observer reads the old primary's `CONFIG GET min-replicas-to-write` and `INFO
    replication` every 50 ms on a connection of its own: when its agent fenced it
    (min-replicas-to-write set to cachefleet's fence value) and when its engine's own guard
    counted no good replica (min_slaves_good_slaves 0), each from the cut.

Writes the old primary acknowledged after the cut, and after the promotion (a reply that
came after the new primary's first acknowledged SET was sent), are counted; once the group
has settled again every acknowledged key is read back from the final primary: acknowledged
writes lost. Every loop has a deadline; the beds kill what they started, by PID.
"""
from __future__ import annotations

import argparse
import contextlib
import pathlib
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import grpc
import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchlib import BenchError, fmt_s, progress, summary, table, wait_until
from writers import SOCKET_TIMEOUT, Resp, RespError, error_kind, resp_once
from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.reconcile.decide_groups import GUARD_SECONDS
from tests.helpers.netns import Bed
from tests.helpers.servicefleet import ServiceFleet

ROW = "partition"
NODE_TYPE = "cache.t1.micro"
NODE_MEMORY_MB = 213                 # cache.t1.micro (coordinator/node_types.py)
GROUP_ID = "bench-part"
CLUSTERS = 3
FLEET_HOSTS = 4                      # one more than the group's members: room for the one the cut takes
SENTINEL_MASTER = "benchmaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
SENTINEL_PORT = 26379
REDIS_PORT = 6379
FENCE = 2147483647                   # the min-replicas-to-write a cachefleet agent fences with
REFUSALS = ("NOREPLICAS", "READONLY")

PROBE_EVERY = 0.020
HELD_EVERY = 0.010
OBSERVE_EVERY = 0.050
WARM_ACKS = 30
PROMOTION_TIMEOUT = 30.0
AFTER_PROMOTION = 1.5                # the old primary is knocked on this much longer
# redis counts a replica's lag in whole seconds of its clock, once a second: a random pause
# before each cut samples every phase of the cut against those seconds, not the one a
# regular cadence of runs would keep hitting
PHASE_JITTER = 1.0
SETTLE_TIMEOUT = 120.0
TARGET = {"promotion_median": 2.0}   # and: refused before the promotion, 0 accepted after it
SIDES = (("cachefleet", "cachefleet"), ("sentinel", "Sentinel"),
         ("sentinel-guarded", "Sentinel + min-replicas-to-write 1"))


def engine_flags(address: str, port: int, data_dir: pathlib.Path) -> list[str]:
    """What nodeagent/engines/redis.py gives a managed node, on address:port."""
    return ["--bind", address, "--port", str(port), "--daemonize", "no", "--protected-mode", "no",
            "--maxmemory", f"{NODE_MEMORY_MB}mb", "--maxmemory-policy", "volatile-lru", "--save", "",
            "--appendonly", "no", "--dir", str(data_dir), "--logfile", "", "--repl-diskless-sync-delay", "0"]


# --- the clients: threads inside the bed's client namespace ---

@dataclass
class Ack:
    sent: float                      # perf_counter when SET was sent
    done: float                      # perf_counter when OK came back
    key: str
    address: str


class ClientLoop:
    """A loop on a thread of its own inside the bed's client namespace, until stop()."""

    label = ""

    def __init__(self, bed: Bed) -> None:
        self.stop_event = threading.Event()
        self.thread = bed.thread("client", self._run)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> ClientLoop:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        if self.thread.is_alive():
            raise BenchError(f"{self.label} did not stop")


class Writer(ClientLoop):
    """SET <prefix>:<n> n every `every` s from the client namespace. fresh: resolve() and a new
    connection for every SET (the prober); otherwise one connection held, opened again (to
    resolve()'s answer) only when it breaks: an error reply leaves it open."""

    def __init__(self, bed: Bed, label: str, resolve: Callable[[], tuple[str, int] | None], prefix: str,
                 every: float, fresh: bool) -> None:
        self.label, self.resolve, self.prefix, self.every, self.fresh = label, resolve, prefix, every, fresh
        self.acks: list[Ack] = []
        self.failures: list[tuple[float, str, str]] = []     # (perf_counter, kind, address)
        super().__init__(bed)

    def _run(self) -> None:
        conn: Resp | None = None
        address = ""
        next_at = time.perf_counter()
        for n in range(10_000_000):
            if self.stop_event.is_set():
                break
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at = max(next_at + self.every, time.perf_counter())
            try:
                if conn is None:
                    target = self.resolve()
                    if target is None:
                        raise LookupError("no address")
                    address = target[0]
                    conn = Resp(target[0], target[1])
                sent = time.perf_counter()
                reply = conn.call("SET", f"{self.prefix}:{n}", str(n))
                if reply != "OK":
                    raise RespError(f"REPLY {reply!r}")
                self.acks.append(Ack(sent, time.perf_counter(), f"{self.prefix}:{n}", address))
            except (OSError, RespError, ValueError, LookupError, redis.RedisError, dns.exception.DNSException) as exc:
                self.failures.append((time.perf_counter(), error_kind(exc), address))
                if not isinstance(exc, RespError) and conn is not None:
                    conn.close()
                    conn = None
            if self.fresh and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def first_ack_off(self, old: str, since: float) -> Ack | None:
        """The first SET sent at or after `since` that a node other than `old` acknowledged."""
        return next((a for a in self.acks[-500:] if a.sent >= since and a.address != old), None)

    def first_refusal(self, since: float) -> float | None:
        return next((t for t, kind, _ in self.failures if t >= since and kind in REFUSALS), None)


@dataclass
class Sample:
    at: float                        # perf_counter
    min_replicas: int | None         # CONFIG GET min-replicas-to-write
    good_replicas: int | None        # INFO replication's min_slaves_good_slaves (None: not shown)
    role: str


class Observer(ClientLoop):
    """The old primary's write settings and guard, read every OBSERVE_EVERY on a held connection."""

    label = "observer"

    def __init__(self, bed: Bed, address: str, port: int) -> None:
        self.address, self.port = address, port
        self.samples: list[Sample] = []
        self.errors = 0
        super().__init__(bed)

    def _run(self) -> None:
        conn: Resp | None = None
        for _ in range(10_000_000):
            if self.stop_event.wait(OBSERVE_EVERY):
                break
            try:
                conn = conn or Resp(self.address, self.port)
                _, value = conn.call("CONFIG", "GET", "min-replicas-to-write")
                fields = dict(line.split(":", 1) for line in conn.call("INFO", "replication").decode().splitlines()
                              if ":" in line)
                good = fields.get("min_slaves_good_slaves")
                self.samples.append(Sample(time.perf_counter(), int(value), None if good is None else int(good),
                                           fields.get("role", "").strip()))
            except (OSError, RespError, ValueError) as exc:
                self.errors += 1
                if not isinstance(exc, RespError) and conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()

    def first(self, since: float, seen: Callable[[Sample], bool]) -> float | None:
        return next((s.at - since for s in self.samples if s.at >= since and seen(s)), None)


def missing_keys(address: str, port: int, acks: list[Ack]) -> list[Ack]:
    """The acknowledged writes whose key does not hold its value on address:port (run in the
    client namespace)."""
    conn = Resp(address, port, timeout=5)
    lost: list[Ack] = []
    try:
        for i in range(0, len(acks), 500):
            batch = acks[i:i + 500]
            values = conn.call("MGET", *[a.key for a in batch])
            lost += [a for a, v in zip(batch, values) if v != a.key.rsplit(":", 1)[1].encode()]
    finally:
        conn.close()
    return lost


# --- the two sides: what a run needs of each ---

class Side:
    """A primary (or master) with two replicas in a bed, reached by clients through an endpoint."""

    label = ""
    bed: Bed
    port: int

    def settled(self) -> tuple[str, str] | None:
        """(the primary's address, its host's role in the bed) once all is whole again, else None."""
        raise NotImplementedError

    def resolve(self) -> tuple[str, int] | None:
        """Where the endpoint points now, asked from the calling thread (in the client namespace)."""
        raise NotImplementedError

    def cut(self, host: str) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Before a run: everything in place around the current primary."""

    def details(self, since_wall: float) -> dict:
        """What the side itself says of the run (events)."""
        return {}


class FleetSide(Side):
    label = "cachefleet"

    def __init__(self, fleet: ServiceFleet) -> None:
        self.fleet, self.bed = fleet, fleet.bed
        fleet.stub.CreateReplicationGroup(pb.CreateReplicationGroupRequest(
            replication_group_id=GROUP_ID, replication_group_description="bench-failover partition row",
            num_cache_clusters=CLUSTERS, automatic_failover_enabled=True, cache_node_type=NODE_TYPE,
            preferred_cache_cluster_a_zs=["rack-a", "rack-b", "rack-c"]), timeout=5)
        self.name = ""
        described = wait_until(lambda: (g := self._group()) and g.status == "available" and g, 60, 0.05,
                               f"{GROUP_ID} available")
        self.name = described.node_groups[0].primary_endpoint.address
        self.port = described.node_groups[0].primary_endpoint.port

    def _group(self) -> pb.ReplicationGroup:
        return self.fleet.stub.DescribeReplicationGroups(
            pb.DescribeReplicationGroupsRequest(replication_group_id=GROUP_ID), timeout=2).replication_groups[0]

    def _ask(self, name: str) -> list[str]:
        named = self.fleet.named
        reply = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), named.host, port=named.port,
                              timeout=SOCKET_TIMEOUT)
        return [r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]

    def resolve(self) -> tuple[str, int] | None:
        addresses = self._ask(self.name)
        return (addresses[0], self.port) if addresses else None

    def settled(self) -> tuple[str, str] | None:
        if not all(h.status == "available" for h in self.fleet.describe_hosts()):
            return None
        group = self._group()
        members = list(group.node_groups[0].node_group_members)
        if group.status != "available" or len(members) != CLUSTERS \
                or any(m.cache_node_status != "available" for m in members) \
                or len({m.host_id for m in members}) != CLUSTERS:
            return None
        primaries = [m for m in members if m.current_role == "primary"]
        if len(primaries) != 1 or any(m.replication_link_status != "up" for m in members if m not in primaries):
            return None
        addresses = self.bed.call("client", self._ask, self.name)
        if addresses != self.bed.call("client", self._ask, primaries[0].read_endpoint.address):
            return None
        host = self.fleet.host_of(addresses[0])
        return (addresses[0], host) if host == primaries[0].host_id else None

    def cut(self, host: str) -> None:
        self.bed.isolate(host, ["coordinator", *(h for h in self.fleet.hosts if h != host)])

    def details(self, since_wall: float) -> dict:
        events = [(e.date.ToNanoseconds() / 1e9 - since_wall, e.message) for e in self.fleet.events(GROUP_ID)
                  if e.date.ToNanoseconds() / 1e9 >= since_wall - 0.2]
        failover = next((t for t, m in sorted(events) if m.startswith("Failover from primary")), None)
        return {"failover_event": failover, "events": [f"{t:+.2f}s {m}" for t, m in sorted(events)]}


class SentinelSide(Side):
    def __init__(self, bed: Bed, guarded: bool) -> None:
        self.bed, self.guarded = bed, guarded
        self.label = "sentinel-guarded" if guarded else "sentinel"
        self.hosts = sorted(r for r in bed.members if r.startswith("h"))
        self.port = REDIS_PORT            # the bed's namespaces are new: every port is free there
        self.servers: dict[str, object] = {}
        self.sentinels: dict[str, object] = {}       # role -> process
        self.layout: tuple[str, ...] = ()
        self._clients: dict[str, redis.Redis] = {}
        self._local = threading.local()
        master = self.hosts[0]
        for host in self.hosts:
            self._start_server(host, None if host == master else self.address(master))
        self._start_sentinels(master)

    def address(self, role: str) -> str:
        return self.bed.members[role].address

    def _start_server(self, host: str, master: str | None) -> None:
        data = self.bed.dir / f"{self.label}-redis-{host}"
        data.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", *engine_flags(self.address(host), self.port, data)]
        if self.guarded:
            argv += ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "1"]
        if master is not None:
            argv += ["--replicaof", master, str(self.port)]
        self.servers[host] = self.bed.run(host, argv, log=data / "redis.log", cwd=data)
        wait_until(lambda: self.bed.call("client", resp_once, self.address(host), self.port, "PING") == "PONG",
                   10, 0.02, f"redis-server on {host}")

    def _start_sentinels(self, master_host: str) -> None:
        """Three fresh sentinels: one beside each replica, one on the witness."""
        self._stop_sentinels()
        self.layout = (*[h for h in self.hosts if h != master_host], "witness")
        for role in self.layout:
            sdir = self.bed.dir / f"{self.label}-sentinel-{role}-{time.monotonic_ns()}"
            sdir.mkdir(parents=True)
            conf = sdir / "sentinel.conf"
            conf.write_text(
                f"port {SENTINEL_PORT}\nbind {self.address(role)}\ndaemonize no\nprotected-mode no\n"
                f"dir {sdir}\nlogfile \"\"\n"
                f"sentinel monitor {SENTINEL_MASTER} {self.address(master_host)} {self.port} 2\n"
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SENTINEL_MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n")
            self.sentinels[role] = self.bed.run(role, ["redis-server", str(conf), "--sentinel"],
                                                log=sdir / "sentinel.log", cwd=sdir)

    def _stop_sentinels(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.sentinels:
            self.bed.stop(*self.sentinels.values(), grace=2.0)
        self.sentinels.clear()

    def close(self) -> None:
        self._stop_sentinels()
        self.bed.stop(*self.servers.values(), grace=2.0)

    def _client(self, role: str) -> redis.Redis:
        if role not in self._clients:
            self._clients[role] = self.bed.redis("client", self.address(role), SENTINEL_PORT, socket_timeout=1,
                                                 socket_connect_timeout=1, retry=Retry(NoBackoff(), 0),
                                                 decode_responses=True)
        return self._clients[role]

    def resolve(self) -> tuple[str, int] | None:
        sentinel = getattr(self._local, "sentinel", None)
        if sentinel is None:              # made in the calling thread: its sockets open in its namespace
            options = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT,
                       "retry": Retry(NoBackoff(), 0)}
            sentinel = redis.sentinel.Sentinel([(self.address(r), SENTINEL_PORT) for r in self.layout],
                                               sentinel_kwargs=options, **options)
            self._local.sentinel = sentinel
        host, port = sentinel.discover_master(SENTINEL_MASTER)
        return host, int(port)

    def settled(self) -> tuple[str, str] | None:
        seen = set()
        for role in self.layout:
            client = self._client(role)
            address = client.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
            state = client.sentinel_master(SENTINEL_MASTER)
            replicas = client.sentinel_slaves(SENTINEL_MASTER)
            if not address or not state["is_master"] or state["is_sdown"] or state["is_odown"] \
                    or state["num-other-sentinels"] != 2 or len(replicas) != 2 \
                    or any(r["flags"] != "slave" or r["master-link-status"] != "ok" for r in replicas):
                return None
            seen.add(address[0])
        if len(seen) != 1:
            return None
        master = seen.pop()
        info = self.bed.call("client", resp_once, master, self.port, "INFO", "replication").decode()
        if "connected_slaves:2" not in info or info.count("state=online") != 2:
            return None
        return master, self.bed.role_of(master)

    def prepare(self) -> None:
        master = wait_until(self.settled, SETTLE_TIMEOUT, 0.1, f"{self.label}: settled before the run")
        if master[1] in self.layout:         # the master moved beside a sentinel: lay them out again
            self._start_sentinels(master[1])
        self._local = threading.local()

    def cut(self, host: str) -> None:
        self.bed.isolate(host, [*(h for h in self.hosts if h != host), "witness"])


# --- a run ---

def partition_run(side: Side, run: int) -> dict:
    side.prepare()
    old, old_host = wait_until(side.settled, SETTLE_TIMEOUT, 0.1, f"{side.label}: settled before the cut")
    bed, port = side.bed, side.port
    prefix = f"bench:{ROW}:{side.label}:{run}"
    probe = Writer(bed, "prober", side.resolve, f"{prefix}:e", PROBE_EVERY, fresh=True)
    held = Writer(bed, "held writer", lambda: (old, port), f"{prefix}:h", HELD_EVERY, fresh=False)
    observer = Observer(bed, old, port)
    loops = [probe.start(), held.start(), observer.start()]
    cut_at = None
    try:
        wait_until(lambda: len(probe.acks) >= WARM_ACKS and len(held.acks) >= WARM_ACKS and observer.samples,
                   15, 0.01, f"{side.label}: writes flowing")
        time.sleep(random.uniform(0.0, PHASE_JITTER))
        wall, cut_at = time.time(), time.perf_counter()
        side.cut(old_host)
        try:
            promoted: Ack | None = wait_until(lambda: probe.first_ack_off(old, cut_at), PROMOTION_TIMEOUT,
                                              0.005, f"{side.label}: a write accepted off the old primary")
        except BenchError as exc:
            progress(str(exc))
            promoted = None
        time.sleep(max(0.0, (promoted.done if promoted else time.perf_counter()) + AFTER_PROMOTION
                       - time.perf_counter()))
    finally:
        for loop in loops:
            loop.stop()
        if cut_at is not None:
            bed.heal()
    healed = time.perf_counter()
    final, _ = wait_until(side.settled, SETTLE_TIMEOUT, 0.1, f"{side.label}: settled after the heal")
    settled_after = time.perf_counter() - healed
    acks = probe.acks + held.acks
    lost = bed.call("client", missing_keys, final, port, acks, timeout=60)
    figure = figures(probe, held, observer, cut_at, promoted, old, acks, lost)
    figure.update(old=old, old_host=old_host, new=promoted.address if promoted else None, final=final,
                  settled_after_heal=settled_after, **side.details(wall))
    return figure


def figures(probe: Writer, held: Writer, observer: Observer, cut_at: float, promoted: Ack | None, old: str,
            acks: list[Ack], lost: list[Ack]) -> dict:
    """One run's figures, in seconds from the cut."""
    after_cut = [a for a in acks if a.address == old and a.done >= cut_at]
    # a reply that came once the new primary had been sent its first acknowledged write: the two
    # may have taken writes at the same time
    after_promotion = [a for a in after_cut if promoted is not None and a.done >= promoted.sent]
    refused = held.first_refusal(cut_at)
    kinds: dict[str, int] = {}
    for t, kind, _ in held.failures:
        if t >= cut_at:
            kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "promotion": promoted.done - cut_at if promoted else None,
        "first_refusal": refused - cut_at if refused is not None else None,
        "agent_fence": observer.first(cut_at, lambda s: s.min_replicas == FENCE),
        "guard_tripped": observer.first(cut_at, lambda s: s.good_replicas == 0),
        "last_old_ack": max((a.done for a in after_cut), default=cut_at) - cut_at if after_cut else None,
        "old_acked_after_cut": len(after_cut),
        "old_acked_after_cut_held": sum(a in held.acks for a in after_cut),
        "old_acked_after_promotion": len(after_promotion),
        "lost": len(lost),
        "lost_before_cut": sum(a.done < cut_at for a in lost),
        "lost_after_promotion": sum(promoted is not None and a.done >= promoted.sent for a in lost),
        "acked": len(acks),
        "held_failures": kinds,
        "prober_failures": len([f for f in probe.failures if f[0] >= cut_at]),
        "observer_errors": observer.errors,
    }


# --- the row: the references first, then cachefleet ---

@contextlib.contextmanager
def fleet_bed() -> Iterator[ServiceFleet]:
    try:
        with Bed(hosts=FLEET_HOSTS, extra_per_host=1) as bed, ServiceFleet(bed) as fleet:
            yield fleet
    except AssertionError as exc:         # the helpers' waits fail with AssertionError
        raise BenchError(f"the fleet in its bed: {exc}") from exc


def measure(runs: int, results: dict) -> None:
    """The partition row, each side --runs times; results[ROW][side] = its summary."""
    out = results.setdefault(ROW, {})
    for guarded in (False, True):
        with Bed(hosts=3, extra_per_host=0, services=("witness", "client")) as bed:
            side = SentinelSide(bed, guarded)
            try:
                out[side.label] = side_runs(side, runs)
            finally:
                side.close()
    with fleet_bed() as fleet:
        out["cachefleet"] = side_runs(FleetSide(fleet), runs)


def side_runs(side: Side, runs: int) -> dict:
    figures_ = []
    for run in range(runs):
        try:
            figure = partition_run(side, run)
        except grpc.RpcError as exc:
            raise BenchError(f"{side.label}: gRPC {exc.code().name}: {exc.details()}") from exc
        figures_.append(figure)
        progress(f"{side.label} partition, run {run + 1}/{runs}: promotion {fmt_s(figure['promotion'])} "
                 f"({figure['old']} -> {figure['new']}), first refusal {fmt_s(figure['first_refusal'])}, agent "
                 f"fence {fmt_s(figure['agent_fence'])}, guard {fmt_s(figure['guard_tripped'])}; old primary "
                 f"acked {figure['old_acked_after_cut']} after the cut, {figure['old_acked_after_promotion']} "
                 f"after the promotion; lost {figure['lost']}; settled {fmt_s(figure['settled_after_heal'])} "
                 f"after the heal")
    return summarize(figures_)


def summarize(figures_: list[dict]) -> dict:
    def of(key: str) -> dict:
        return summary([f[key] for f in figures_ if f[key] is not None])
    return {"promotion": of("promotion"), "first_refusal": of("first_refusal"), "agent_fence": of("agent_fence"),
            "guard_tripped": of("guard_tripped"), "last_old_ack": of("last_old_ack"),
            "no_promotion_runs": sum(f["promotion"] is None for f in figures_),
            "old_acked_after_cut": sum(f["old_acked_after_cut"] for f in figures_),
            "old_acked_after_promotion": sum(f["old_acked_after_promotion"] for f in figures_),
            "lost": sum(f["lost"] for f in figures_), "lost_before_cut": sum(f["lost_before_cut"] for f in figures_),
            "lost_after_promotion": sum(f["lost_after_promotion"] for f in figures_),
            "runs": figures_}


# --- the table ---

def verdict(r: dict) -> list[str]:
    """What cachefleet's figures miss of the row's target (empty: PASS)."""
    fails = []
    if r["no_promotion_runs"]:
        fails.append(f"no promotion in {r['no_promotion_runs']} run(s)")
    if r["promotion"].get("n") and r["promotion"]["median"] > TARGET["promotion_median"]:
        fails.append(f"promotion median {fmt_s(r['promotion']['median'])} > {TARGET['promotion_median']:g} s")
    if r["old_acked_after_promotion"]:
        fails.append(f"{r['old_acked_after_promotion']} write(s) accepted by the old primary after the promotion")
    unrefused = sum(f["first_refusal"] is None or (f["promotion"] is not None and f["first_refusal"] > f["promotion"])
                    for f in r["runs"])
    if unrefused:
        fails.append(f"not refusing before the promotion in {unrefused} run(s)")
    return fails


def render(results: dict, opts: argparse.Namespace) -> list[str]:
    if ROW not in results:
        return []
    out = results[ROW]

    def mmm(s: dict) -> str:
        return f"{fmt_s(s['min'])} / {fmt_s(s['median'])} / {fmt_s(s['max'])}" if s.get("n") else "-"

    rows = [("primary's host cut off, clients still reach it", "promotion min / median / max",
             "first refusal (held conn.)", "old acked after cut", "after promotion", "acked lost (after promotion)",
             "target", "verdict")]
    target = (f"refused before the promotion, promotion median <= {TARGET['promotion_median']:g} s, "
              "0 accepted after it")
    notes = [f"beds: cachefleet as README's \"Running it as a service\" deploys it, {FLEET_HOSTS} hosts with a "
             f"second address each and namespaces for the coordinator, named, the S3 store and the clients, a "
             f"group of {CLUSTERS} {NODE_TYPE}, one member a host; Sentinel: 3 hosts, a witness and the clients, a "
             f"redis-server a host, 3 sentinels (quorum 2, down-after {DOWN_AFTER_MS} ms, failover-timeout "
             f"{FAILOVER_TIMEOUT_MS} ms) beside the two replicas and on the witness. The cut, both ways: the "
             f"primary's host from every other host and the coordinator (Sentinel: the witness); the clients' "
             f"namespace still reaches it"]
    for side, label in SIDES:
        r = out.get(side)
        if not r:
            rows.append((label, "not measured", "", "", "", "", "", ""))
            continue
        fails = verdict(r) if side == "cachefleet" else None
        if fails is not None:
            out["verdict"], out["misses"] = ("PASS" if not fails else "FAIL"), fails
        rows.append((f"{label} (x{len(r['runs'])})", mmm(r["promotion"]), mmm(r["first_refusal"]),
                     str(r["old_acked_after_cut"]), str(r["old_acked_after_promotion"]),
                     f"{r['lost']} ({r['lost_after_promotion']})", target if side == "cachefleet" else "",
                     "" if fails is None else ("PASS" if not fails else "FAIL: " + "; ".join(fails))))
        runs = r["runs"]

        def each(key: str) -> str:
            return ", ".join(fmt_s(f[key]) for f in runs)
        notes.append(f"{label}: promotion per run {each('promotion')}; first refusal {each('first_refusal')}")
        if side != "sentinel":
            notes.append(f"{label}: the engine's guard counted no good replica (min_slaves_good_slaves 0) after "
                         f"{each('guard_tripped')} (min / median / max {mmm(r['guard_tripped'])})"
                         + (f"; the agent fenced it (min-replicas-to-write {FENCE}) after {each('agent_fence')}. "
                            "The agent's CONFIG SET makes redis count its good replicas at once, so where the agent "
                            "fenced first the guard's time here is no later than the fence's; alone, redis counts "
                            "them once a second (replicationCron): the Sentinel + min-replicas-to-write row is the "
                            f"engine's guard alone. cachefleet promotes no sooner than GUARD_SECONDS "
                            f"({GUARD_SECONDS:g} s) after a replica's agent last saw the old primary"
                            if side == "cachefleet" else ""))
        if side == "cachefleet":
            event = [f["failover_event"] for f in runs if f.get("failover_event") is not None]
            notes.append(f"{label}: the coordinator's failover event after {', '.join(fmt_s(t) for t in event)}; "
                         f"margin between the old primary's last acknowledged write and the promotion: min "
                         f"{fmt_s(min((f['promotion'] - f['last_old_ack'] for f in runs if f['promotion'] is not None and f['last_old_ack'] is not None), default=None))}")
        kinds: dict[str, int] = {}
        for f in runs:
            for k, v in f["held_failures"].items():
                kinds[k] = kinds.get(k, 0) + v
        notes.append(f"{label}: old primary acked per run after the cut "
                     f"{', '.join(str(f['old_acked_after_cut']) for f in runs)}, after the promotion "
                     f"{', '.join(str(f['old_acked_after_promotion']) for f in runs)}; lost per run "
                     f"{', '.join(str(f['lost']) for f in runs)} (acknowledged before the cut {r['lost_before_cut']}); "
                     f"held writer's failures after the cut {kinds or 'none'}; settled after the heal, median "
                     f"{fmt_s(statistics.median(f['settled_after_heal'] for f in runs))}")
    notes.append("promotion: from the cut to the first SET (a new connection to where the endpoint points, every "
                 "20 ms) a node other than the old primary acknowledged; first refusal: the held connection's "
                 "first -NOREPLICAS/-READONLY; old acked: SETs the old primary acknowledged (held writer and "
                 "prober), after the promotion meaning replies that came once the new primary's first acknowledged "
                 "SET had been sent; acked lost: acknowledged keys not on the final primary once settled after "
                 "the heal (in brackets: those acknowledged after the promotion)")
    return ["", *table(rows), "", *(f"  - {n}" for n in notes)]
