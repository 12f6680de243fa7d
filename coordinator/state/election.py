"""Leader election among coordinators through etcd: a lease, and a key created with it.

etcd's election pattern: every coordinator keeps a lease of its own alive and tries, each
cycle, to create the leadership key with it if absent (a Txn comparing the key's creation
revision with 0). Whoever created it leads until its lease ends (it stops renewing, or
resigns: revoking the lease deletes the key), and the next cycle of another takes it.

What a cycle saw is judged by coordinator/domain/leadership.py; `leading` judges it again at
the moment it is asked, so a leader that cannot renew stops acting at its renew deadline even
between cycles. Its store writes go through `store()`, which compares the key's creation
revision in every Txn: a leader deposed meanwhile gets NotLeader instead of a landed write.
That revision is also the leader's epoch (`epoch`), which it sends to the agents with every
call and heartbeat answer: an agent that has seen a later leader's refuses a deposed one's.

A leader whose process is gone need not be waited for. A follower that finds the leader's
advertised endpoint refusing connections (REFUSALS probes in a row: nothing listens there, the
kernel says so, which a frozen or cut-off process never makes it say) revokes the leader's lease
and campaigns at once, so the API answers again within a cycle instead of a lease. What a live
leader might still do is bounded all the same: it acts only until its own renew deadline, which
comes before etcd's expiry of its lease, so the successor notes that expiry before revoking
(`predecessor_until`) and takes no action on agents before it, as if it had waited.

Every coordinator, leading or not, also registers itself under `members/NAME` with the same
lease, so `roster()` lists the followers too, and a coordinator that stops renewing leaves it.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import grpc
import structlog

from cachefleet.etcd import rpc_pb2
from coordinator.domain.leadership import Holder, Lease, Member, Timing, Verdict, judge, renewed, roster
from coordinator.state.store.base import StoreError
from coordinator.state.store.etcd import EtcdStore, Guard, NotLeader, prefix_end
from coordinator.state.store.etcdclient import EtcdClient, never_sent

log = structlog.get_logger("election")

_Compare = rpc_pb2.Compare
RETRY_AFTER_FAILURE = 0.1   # seconds before a leader whose cycle failed tries again
REFUSALS = 3                # refused connections in a row that say the leader's process is gone
PROBE_PAUSE = 0.05          # seconds between them
PROBE_TIMEOUT = 0.2         # a connection neither made nor refused by then proves nothing


class _NeverSent(Exception):
    """A keep-alive that could not reach its member (it moved on to the next)."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


def leader_key(namespace: str) -> str:
    """The leadership key of the fleet whose keys live under namespace (beside its state/)."""
    return namespace + "leader"


def members_prefix(namespace: str) -> str:
    """Where the coordinators of that fleet register themselves, one key each."""
    return namespace + "coordinators/"


class Elector:
    def __init__(self, client: EtcdClient, name: str, key: str, timing: Timing, *, endpoint: str = "",
                 members: str = "", clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        timing.check()
        self.client = client
        self.name = name
        self.key = key.encode()
        self.timing = timing
        self.endpoint = endpoint          # where the leader answers: what followers send callers to
        self.clock = clock
        self.wall = wall
        self.members = members.encode()   # b"": do not register
        self.started = wall()
        self.lease: Lease | None = None
        self.holder: Holder | None = None
        self.leader_endpoint = ""
        self.sentence = ""
        self.failed = False   # whether the last cycle could not reach etcd
        self._registered: int | None = None   # the lease our members/ key was last put with
        # When (our monotonic clock) the lease of a leader we revoked would have ended at etcd:
        # that leader, if alive after all, stops acting before then.
        self.predecessor_until = 0.0
        # The creation revision of the key this coordinator last led with (0: it never led). Kept
        # once deposed: calls it still sends carry it, and agents that saw a later one refuse them.
        self.epoch = 0

    def verdict(self) -> Verdict:
        return judge(self.name, self.clock(), self.lease, self.holder, self.timing)

    @property
    def leading(self) -> bool:
        return self.verdict().leading

    def acts_until(self) -> float | None:
        """When (by our clock) this coordinator stops acting as leader unless it renews first;
        None when it does not lead now."""
        if not self.leading or self.lease is None:
            return None
        return self.lease.alive_until - self.timing.margin

    async def lead(self) -> None:
        """Cycle until this coordinator leads."""
        while not self.leading:
            await self.run_cycle()
            if not self.leading:
                await asyncio.sleep(self.timing.renew_interval)

    async def keep(self) -> str:
        """Keep leading: cycle every renew_interval (after a cycle that failed, again within
        RETRY_AFTER_FAILURE: etcd choosing a new raft leader, or a member gone, must not cost a
        whole interval of the time left before the renew deadline), and wake at the renew
        deadline too, so a leader that could not renew learns it at that moment. Returns the
        sentence of the moment the leadership was lost."""
        while True:
            sentence = await self.run_cycle()
            until = self.acts_until()
            if until is None:
                return sentence
            pause = RETRY_AFTER_FAILURE if self.failed else self.timing.renew_interval
            await asyncio.sleep(max(min(pause, until - self.clock()), 0.0))
            if not self.leading:
                return self.verdict().sentence

    def store(self, store: EtcdStore) -> EtcdStore:
        """store, every write of which lands only while this coordinator still holds the key
        it leads with. NotLeader if it does not lead now."""
        verdict = self.verdict()
        if verdict.create_revision is None:
            raise NotLeader(f"{self.name} does not lead: {verdict.sentence}")
        return store.guarded(Guard(self.key, verdict.create_revision))

    async def run_cycle(self) -> str:
        """Renew (or get) the lease, try for the key, and say in one sentence where that leaves us."""
        took, self.failed = False, False
        try:
            await self._renew()
            await self._register()
            took = await self._campaign()
            if not took and await self._leader_gone():
                took = await self._campaign()
        except StoreError as exc:
            self.failed = True
            log.warning("election cycle failed", error=str(exc))
        verdict = self.verdict()
        if verdict.create_revision is not None:
            self.epoch = verdict.create_revision
        sentence = ("took the leadership: " if took and verdict.leading else "") + verdict.sentence
        if sentence != self.sentence:
            log.info(sentence, coordinator=self.name, leader_endpoint=self.leader_endpoint)
        self.sentence = sentence
        return sentence

    async def run(self) -> None:
        """Cycle every renew_interval until cancelled."""
        while True:
            await self.run_cycle()
            await asyncio.sleep(self.timing.renew_interval)

    async def resign(self) -> None:
        """Revoke our lease: the leadership key, if we hold it, goes with it (another coordinator
        takes it at its next cycle instead of after the lease), and so does our registration.
        A key another holds is not ours to touch, and is not touched."""
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                await self.client.call("Lease", "LeaseRevoke", rpc_pb2.LeaseRevokeRequest(ID=lease.id))
            except StoreError as exc:
                log.warning("could not revoke the leader lease; it ends on its own", error=str(exc))

    async def _renew(self) -> None:
        sent = self.clock()
        if self.lease is not None and self.lease.alive_until > sent:
            self.lease = renewed(self.lease, sent, await self._keep_alive(self.lease.id))
        if self.lease is None or self.lease.alive_until <= sent:
            granted = await self.client.call("Lease", "LeaseGrant", rpc_pb2.LeaseGrantRequest(TTL=self.timing.ttl))
            if granted.error:
                raise StoreError(f"etcd refused a lease: {granted.error}")
            self.lease = Lease(granted.ID, sent + granted.TTL)

    async def _keep_alive(self, lease_id: int) -> int:
        """The seconds left on lease_id after one keep-alive (0: etcd no longer has it). A member
        that refuses the connection (never sent) is passed for the next at once: a keep-alive may
        go to any member, and the renew deadline leaves no time for a cycle lost to a dead one."""
        for _ in range(len(self.client.endpoints) - 1):
            try:
                return await self._keep_alive_once(lease_id)
            except _NeverSent:
                continue
        try:
            return await self._keep_alive_once(lease_id)
        except _NeverSent as exc:
            raise exc.error from None

    async def _keep_alive_once(self, lease_id: int) -> int:
        answered = asyncio.Event()

        async def requests() -> AsyncIterator[rpc_pb2.LeaseKeepAliveRequest]:
            yield rpc_pb2.LeaseKeepAliveRequest(ID=lease_id)
            await answered.wait()     # keep the stream open until the answer is in

        endpoint, stub = self.client.stub("Lease")
        call = stub.LeaseKeepAlive(requests(), timeout=self.client.timeout)
        try:
            async for response in call:
                return int(response.TTL)
        except grpc.aio.AioRpcError as exc:
            error = self.client.failed(endpoint, exc)
            raise (_NeverSent(error) if never_sent(exc) else error) from None
        finally:
            answered.set()
            call.cancel()
        raise StoreError(f"etcd {endpoint}: the keep-alive stream ended without an answer")

    async def _leader_gone(self) -> bool:
        """Whether the leader's process is gone (its endpoint refuses connections); if so, its
        lease is revoked, which frees the key. True when the key may now be taken."""
        holder, endpoint = self.holder, self.leader_endpoint
        if holder is None or self.lease is None or holder.lease == self.lease.id or not endpoint:
            return False
        for attempt in range(REFUSALS):
            if attempt:
                await asyncio.sleep(PROBE_PAUSE)
            if not await _refuses(endpoint):
                return False
        left = await self.client.call("Lease", "LeaseTimeToLive", rpc_pb2.LeaseTimeToLiveRequest(ID=holder.lease),
                                      read=True)
        if left.TTL <= 0:
            return True    # the lease has just ended on its own: the key is free already
        # etcd rounds the seconds left down: one more covers the fraction
        self.predecessor_until = max(self.predecessor_until, self.clock() + int(left.TTL) + 1)
        log.warning("the leader's endpoint refuses connections: its process is gone; revoking its lease",
                    coordinator=self.name, leader=holder.name, leader_endpoint=endpoint, lease_ttl_left=left.TTL)
        await self.client.call("Lease", "LeaseRevoke", rpc_pb2.LeaseRevokeRequest(ID=holder.lease))
        return True

    def _value(self, **more: object) -> bytes:
        return json.dumps({"name": self.name, "endpoint": self.endpoint, **more}).encode()

    async def _register(self) -> None:
        """Put members/NAME with our lease, once per lease (a lease re-granted: put again)."""
        if not self.members or self.lease is None or self._registered == self.lease.id:
            return
        await self.client.call("KV", "Put", rpc_pb2.PutRequest(key=self.members + self.name.encode(),
                                                               value=self._value(started=self.started),
                                                               lease=self.lease.id))
        self._registered = self.lease.id

    async def roster(self) -> list[Member]:
        """Every registered coordinator and the leader, read in one Txn (linearizable)."""
        end = prefix_end(self.members)
        response = await self.client.txn(rpc_pb2.TxnRequest(success=[
            rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self.members, range_end=end)),
            rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self.key))]))
        registered = [member for kv in response.responses[0].response_range.kvs
                      if (member := _member(kv.value)) is not None]
        held = response.responses[1].response_range.kvs
        leader = _member(held[0].value, leader=True) if held else None
        return roster(registered, leader)

    async def _campaign(self) -> bool:
        """Create the key with our lease if nobody holds it; learn who does. True if we just took it."""
        assert self.lease is not None
        value = self._value(since=self.wall())
        response = await self.client.txn(rpc_pb2.TxnRequest(
            compare=[_Compare(result=_Compare.EQUAL, target=_Compare.CREATE, key=self.key, create_revision=0)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self.key, value=value,
                                                                      lease=self.lease.id))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=self.key))]))
        if response.succeeded:
            self.holder = Holder(self.name, self.lease.id, response.header.revision)
            self.leader_endpoint = self.endpoint
            return True
        kvs = response.responses[0].response_range.kvs
        if not kvs:   # cannot be (the Txn read it atomically); read again next cycle
            self.holder = None
            return False
        try:
            held = json.loads(kvs[0].value)
            name, self.leader_endpoint = str(held["name"]), str(held.get("endpoint", ""))
        except (ValueError, KeyError, TypeError):
            name, self.leader_endpoint = repr(kvs[0].value[:64]), ""
        self.holder = Holder(name, kvs[0].lease, kvs[0].create_revision)
        return False


def _member(value: bytes, leader: bool = False) -> Member | None:
    """A registration (or the leadership key) as written by `_value`; None if unreadable."""
    try:
        held = json.loads(value)
        name, endpoint = str(held["name"]), str(held.get("endpoint", ""))
        started = held.get("started")
        since = held.get("since") if leader else None
        return Member(name, endpoint, float(started) if started is not None else None, leader,
                      float(since) if since is not None else None)
    except (ValueError, KeyError, TypeError):
        return None


async def _refuses(endpoint: str) -> bool:
    """Whether a TCP connection to endpoint (HOST:PORT) is refused: nothing listens there."""
    host, _, port = endpoint.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), PROBE_TIMEOUT)
    except ConnectionRefusedError:
        return True
    except (TimeoutError, OSError, ValueError):
        return False
    writer.close()
    return False
