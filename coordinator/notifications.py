"""Event notifications: every event of a cluster or group POSTed as JSON to its webhook.

ElastiCache sends a cluster's events to an SNS topic (`NotificationTopicArn`); here the
target is an http(s) URL. Delivery is at least once and crash-safe: EventLog.record()
writes an outbox record `notifications/<event id>` in the same transaction as the event
(the `outbox` hook below), so an event the store kept is delivered even if the
coordinator dies before posting it; on start the notifier resumes every outbox record.
A delivery is retried with exponential backoff (`attempts`, `backoff` doubling, capped);
after the last attempt the failure becomes an event of the same source, "Notification to
<url> failed after N attempts: <reason>", recorded without a notification of its own.
A target may not be this machine (loopback, or 0.0.0.0), link-local, or a cloud metadata
service, neither as written nor as DNS resolves it at delivery, unless the coordinator runs
with --notification-allow-local-targets (Webhooks).
Deliveries run beside the reconciler (a task each, POSTs in a small thread pool of their
own), never inside it, and in no particular order: receivers dedupe and sort by EventId.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import http.client
import ipaddress
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from collections.abc import Callable

import structlog

from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.domain.errors import invalid
from coordinator.state.events import Event, EventLog
from coordinator.state.store import Store

log = structlog.get_logger("notifications")

OUTBOX = "notifications/"
STATUSES = ("active", "inactive")
MAX_URL = 2048
MAX_BACKOFF = 60.0
POST_THREADS = 4


# -- where a webhook may point ------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):   # a 3xx is an answer we do not follow: a failure
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


# Cloud metadata services outside the link-local range (which holds 169.254.169.254 and ECS's
# 169.254.170.2): AWS's IPv6 one and Alibaba's. A webhook there would hand the coordinator's
# POSTs (and whatever such a service answers) to anyone who may set a target.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
LOCAL_NAMES = ("localhost", "metadata.google.internal", "metadata")
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")


def local_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local, unspecified (which reaches this host) or a metadata service."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or address.is_unspecified or address in METADATA_ADDRESSES


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """host as an address when it is one, in any spelling a resolver takes (127.1, 0x7f.0.0.1, 2130706433)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def local_host(host: str) -> bool:
    """Whether a URL's host names this machine or a metadata service without asking DNS."""
    name = host.lower().rstrip(".")
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    address = _literal_address(name)
    return address is not None and local_address(address)


def _connect_outside(address: tuple[str, int], timeout: float = socket.getdefaulttimeout() or 30.0,
                     source_address: tuple[str, int] | None = None) -> socket.socket:
    """socket.create_connection for deliveries, to an address that is not local_address: a name
    that resolves to loopback or to a metadata service (now, whatever it resolved to when the
    target was set) is refused before a byte is sent."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    allowed = [info for info in infos if not local_address(ipaddress.ip_address(str(info[4][0]).split("%")[0]))]
    if not allowed:
        raise OSError(f"{host} resolves to a loopback, link-local or metadata address; webhooks may not "
                      f"point there (--notification-allow-local-targets)")
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in allowed:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    assert error is not None
    raise error


class _OutsideHTTP(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_outside


class _OutsideHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_outside


class _OutsideHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_OutsideHTTP, req)


class _OutsideHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_OutsideHTTPS, req, context=self._context)


class Webhooks:
    """Where webhooks may point: anywhere but this machine and cloud metadata services, unless
    `allow_local` (a local fleet, tests). Checked when a target is set (the URL's host as
    written) and again at every delivery (the address connected to, after DNS)."""

    def __init__(self, allow_local: bool = False) -> None:
        self.allow_local = allow_local
        self.opener = _OPENER if allow_local else urllib.request.build_opener(
            _NoRedirect, _OutsideHTTPHandler, _OutsideHTTPSHandler)

    def check_target(self, url: str) -> str:
        """An http(s) URL with a host, or "" (none); anything else is InvalidParameterValue."""
        if not url:
            return ""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL \
                or any(c.isspace() for c in url):
            raise invalid(f"NotificationTopicArn must be an http:// or https:// URL with a host, got {url!r}.")
        try:
            _ = parts.port   # urllib checks the port only when it is read
        except ValueError:
            raise invalid(f"NotificationTopicArn has an invalid port: {url!r}.") from None
        if not self.allow_local and local_host(parts.hostname):
            raise invalid(f"NotificationTopicArn may not point at a loopback, link-local or metadata address: "
                          f"{url!r} (the coordinator's --notification-allow-local-targets allows it).")
        return url

    def requested_change(self, request) -> tuple[str | None, str]:
        """A Modify request's (target or None when not given, status or ""), validated."""
        target = self.check_target(request.notification_topic_arn) \
            if request.HasField("notification_topic_arn") else None
        return target, check_status(request.notification_topic_status)


# -- API side: validate and apply a target -----------------------------------------------------

def check_status(status: str) -> str:
    if status and status not in STATUSES:
        raise invalid(f"NotificationTopicStatus must be active or inactive, got {status!r}.")
    return status


def apply_change(resource, change: tuple[str | None, str]) -> bool:
    """Set a cluster's or group's target and status; whether anything changed."""
    target, status = change
    before = (resource.notification_topic_arn, resource.notification_topic_status)
    if target is not None:
        resource.notification_topic_arn = target
        if target and not status:
            resource.notification_topic_status = "active"
    if status:
        resource.notification_topic_status = status
    return before != (resource.notification_topic_arn, resource.notification_topic_status)


def configuration(resource, message) -> Any:
    """Fill message.notification_configuration (CacheCluster or ReplicationGroup) when it has a target."""
    if resource.notification_topic_arn:
        message.notification_configuration.topic_arn = resource.notification_topic_arn
        message.notification_configuration.topic_status = resource.notification_topic_status
    return message


# -- delivery -----------------------------------------------------------------------------------

def payload(event: Event, url: str) -> dict[str, Any]:
    """The JSON body: ElastiCache's event fields, and our id (the same in every retry)."""
    date = datetime.datetime.fromtimestamp(event.date, datetime.UTC)
    return {"EventId": event.event_id, "SourceIdentifier": event.source_identifier,
            "SourceType": event.source_type, "Message": event.message,
            "Date": date.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "NotificationTopicArn": url}


class DeliveryError(Exception):
    pass


def post(url: str, body: dict[str, Any], timeout: float, opener: urllib.request.OpenerDirector = _OPENER) -> int:
    """POST body as JSON; the status on 2xx, DeliveryError otherwise. Runs in a thread."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "cachefleet-notifier/1",
        "X-Cachefleet-Event-Id": body.get("EventId", "")})
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(str(reason) or type(exc).__name__) from None


class Notifier:
    def __init__(self, store: Store, repo: ClusterRepo, groups: GroupRepo, events: EventLog,
                 attempts: int = 6, backoff: float = 1.0, timeout: float = 5.0, webhooks: Webhooks | None = None):
        if attempts < 1 or backoff < 0:
            raise ValueError("notification attempts must be >= 1 and backoff >= 0")
        self._store = store
        self._repo = repo
        self._groups = groups
        self._events = events
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.webhooks = webhooks or Webhooks()
        self._pool = concurrent.futures.ThreadPoolExecutor(POST_THREADS, thread_name_prefix="notify")
        self._tasks: dict[str, asyncio.Task] = {}
        self._expected: dict[str, dict] = {}   # event id -> outbox value, until the event is written
        # the last target seen per source: the "deleted" event comes after the record is gone
        self._last_target: dict[tuple[str, str], str] = {}
        self.delivered = 0
        self.failed = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._detach_outbox: Callable[[], None] | None = None

    def attach(self) -> None:
        """Hook into the event log: outbox records with each event, delivery once it is written."""
        self._detach_outbox = self._events.use_outbox(self._outbox)
        self._unsubscribe = self._events.subscribe(self._on_event)

    async def resume(self) -> int:
        """Deliver what a previous run left in the outbox (it crashed or stopped mid-retry)."""
        records = await self._store.list(OUTBOX)
        for rec in records:
            self._start(rec.key, rec.value)
        if records:
            log.info("resuming notifications", pending=len(records))
        return len(records)

    async def close(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._detach_outbox:
            self._detach_outbox()
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    # -- which target ------------------------------------------------------------------------

    async def target_for(self, source_type: str, source_id: str) -> str:
        """The active webhook of a cluster (else of its group) or of a group; "" for none."""
        url, status = "", "active"
        if source_type == "cache-cluster":
            cluster = await self._repo.get(source_id)
            if cluster is None:
                return self._last_target.pop((source_type, source_id), "")
            url, status = cluster.notification_topic_arn, cluster.notification_topic_status
            if not url and cluster.replication_group_id:
                group = await self._groups.get(cluster.replication_group_id)
                if group is not None:
                    url, status = group.notification_topic_arn, group.notification_topic_status
        elif source_type == "replication-group":
            group = await self._groups.get(source_id)
            if group is None:
                return self._last_target.pop((source_type, source_id), "")
            url, status = group.notification_topic_arn, group.notification_topic_status
        target = url if url and status == "active" else ""
        if target:
            self._last_target[(source_type, source_id)] = target
        else:
            self._last_target.pop((source_type, source_id), None)
        return target

    async def _outbox(self, event: Event) -> list[tuple[str, dict]]:
        url = await self.target_for(event.source_type, event.source_identifier)
        if not url:
            return []
        value = {"url": url, "attempts": 0, "event": payload(event, url)}
        self._expected[event.event_id] = value
        return [(OUTBOX + event.event_id, value)]

    def _on_event(self, event: Event) -> None:
        value = self._expected.pop(event.event_id, None)
        if value is not None:
            self._start(OUTBOX + event.event_id, value)

    # -- delivering --------------------------------------------------------------------------

    def _start(self, key: str, value: dict) -> None:
        if key not in self._tasks:
            task = asyncio.get_running_loop().create_task(self._deliver(key, value), name=f"notify {key}")
            self._tasks[key] = task
            task.add_done_callback(lambda _t: self._tasks.pop(key, None))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt N (1-based): backoff, 2x backoff, 4x ..., capped."""
        return min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)

    async def _deliver(self, key: str, value: dict) -> None:
        url, body = value["url"], value["event"]
        attempt, reason = int(value.get("attempts", 0)), ""
        bound = log.bind(url=url, event_id=body.get("EventId"), source_id=body.get("SourceIdentifier"))
        loop = asyncio.get_running_loop()
        try:
            while attempt < self.attempts:
                attempt += 1
                try:
                    status = await loop.run_in_executor(self._pool, post, url, body, self.timeout,
                                                        self.webhooks.opener)
                except DeliveryError as exc:
                    reason = str(exc)
                    bound.info("notification attempt failed", attempt=attempt, reason=reason)
                else:
                    bound.info("notification delivered", attempt=attempt, status=status)
                    self.delivered += 1
                    await self._store.delete(key)
                    return
                if attempt < self.attempts:
                    await self._store.put(key, {**value, "attempts": attempt})   # a restart goes on from here
                    await asyncio.sleep(self.delay(attempt))
            self.failed += 1
            bound.warning("notification failed", attempts=attempt, reason=reason)
            await self._events.record(body.get("SourceType", ""), body.get("SourceIdentifier", ""),
                                      f"Notification to {url} failed after {attempt} attempts: {reason}",
                                      notify=False)
            await self._store.delete(key)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the outbox keeps it; the next start retries
            bound.exception("notification delivery crashed")
