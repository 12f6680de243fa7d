"""Notification targets and delivery, without a fleet: a real SQLite store, a real HTTP
webhook, the real Notifier hooked into the real EventLog."""
from __future__ import annotations

import asyncio

import pytest

from coordinator import notifications
from coordinator.state.repos import ClusterRepo, GroupRepo
from coordinator.domain.errors import ApiError
from coordinator.state.events import EventLog
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.notifications import OUTBOX, DeliveryError, Notifier, Webhooks, post
from coordinator.state.store import SqliteStore
from tests.helpers.webhook import Webhook


LOCAL_OK = Webhooks(allow_local=True)      # these tests' webhooks listen on loopback


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:8080/hook", "http:///nohost", "http://a b/",
                                 "arn:aws:sns:us-east-1:123456789012:topic", "http://h:99999/"])
def test_a_target_that_is_not_an_http_url_is_refused(url):
    with pytest.raises(ApiError) as exc:
        LOCAL_OK.check_target(url)
    assert exc.value.code == "InvalidParameterValue"


def test_http_and_https_targets_and_known_statuses_pass():
    assert LOCAL_OK.check_target("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    for webhooks in (LOCAL_OK, Webhooks()):
        assert webhooks.check_target("https://hooks.example.com/x?y=1") == "https://hooks.example.com/x?y=1"
        assert webhooks.check_target("http://10.0.0.5:8080/hook") == "http://10.0.0.5:8080/hook"
        assert webhooks.check_target("http://[2001:db8::1]/hook") == "http://[2001:db8::1]/hook"
    assert notifications.check_status("inactive") == "inactive"
    with pytest.raises(ApiError):
        notifications.check_status("paused")


def test_backoff_doubles_and_is_capped():
    n = Notifier.__new__(Notifier)
    n.backoff = 0.5
    assert [n.delay(i) for i in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    n.backoff = 10
    assert n.delay(10) == notifications.MAX_BACKOFF


async def _setup(path, attempts=3, backoff=0.05):
    store = SqliteStore(path)
    repo, groups = ClusterRepo(store), GroupRepo(store)
    events = EventLog(store)
    notifier = Notifier(store, repo, groups, events, attempts=attempts, backoff=backoff, timeout=2,
                        webhooks=LOCAL_OK)
    notifier.attach()
    return store, repo, groups, events, notifier


async def _settle(notifier, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while notifier.pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert not notifier.pending


def test_events_go_to_the_cluster_target_else_its_group_target_and_never_when_inactive(tmp_path):
    own, grouped = Webhook(), Webhook()

    async def scenario():
        store, repo, groups, events, notifier = await _setup(tmp_path / "s.db")
        await repo.create(Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", 11211,
                                  notification_topic_arn=own.url))
        await repo.create(Cluster("g1-001", "redis", "7.0.15", "cache.t1.micro", 6379, replication_group_id="g1"))
        await repo.create(Cluster("quiet", "memcached", "1.6.18", "cache.t1.micro", 11211,
                                  notification_topic_arn=own.url, notification_topic_status="inactive"))
        await groups.create(ReplicationGroup("g1", "d", "g1-001", ["g1-001"], notification_topic_arn=grouped.url), [])
        await events.record("cache-cluster", "c1", "Cache cluster created")
        await events.record("cache-cluster", "g1-001", "Cache cluster created")
        await events.record("replication-group", "g1", "Replication group created")
        await events.record("cache-cluster", "quiet", "Cache cluster created")
        await events.record("host", "host1", "Host host1 lost")
        await _settle(notifier)
        assert await store.list(OUTBOX) == []
        await notifier.close()
        await store.close()
    asyncio.run(scenario())
    assert [(b["SourceIdentifier"], b["Message"]) for b in own.delivered()] == [("c1", "Cache cluster created")]
    assert sorted((b["SourceIdentifier"], b["SourceType"]) for b in grouped.delivered()) == [
        ("g1", "replication-group"), ("g1-001", "cache-cluster")]
    body = own.delivered()[0]
    assert set(body) == {"EventId", "SourceIdentifier", "SourceType", "Message", "Date", "NotificationTopicArn"}
    assert body["Date"].endswith("Z") and body["EventId"]
    own.close()
    grouped.close()


def test_a_failed_delivery_becomes_an_event_of_its_source_without_a_notification_of_its_own(tmp_path, hook):
    hook.default = 500

    async def scenario():
        store, repo, _, events, notifier = await _setup(tmp_path / "s.db", attempts=3)
        await repo.create(Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", 11211,
                                  notification_topic_arn=hook.url))
        await events.record("cache-cluster", "c1", "Cache cluster created")
        await _settle(notifier)
        messages = [e.message for e in await events.query("c1")]
        assert await store.list(OUTBOX) == []
        await notifier.close()
        await store.close()
        return messages
    messages = asyncio.run(scenario())
    assert messages == ["Cache cluster created",
                        f"Notification to {hook.url} failed after 3 attempts: HTTP 500 Internal Server Error"]
    assert len(hook.received) == 3     # the failure event itself was not posted


def test_notifications_left_in_the_outbox_are_delivered_after_a_restart(tmp_path, hook):
    """A coordinator that stops (or dies) while a webhook is down keeps the delivery in the
    store; the next one delivers it, with the same EventId."""
    hook.default = 503

    async def first_run():
        store, repo, _, events, notifier = await _setup(tmp_path / "s.db", attempts=1000, backoff=0.05)
        await repo.create(Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", 11211,
                                  notification_topic_arn=hook.url))
        event = await events.record("cache-cluster", "c1", "Cache cluster created")
        while len(hook.received) < 2:
            await asyncio.sleep(0.02)
        await notifier.close()          # cancelled mid-retry, as a crash would stop it
        assert len(await store.list(OUTBOX)) == 1
        await store.close()
        return event.event_id

    async def second_run():
        store, repo, groups, events, notifier = await _setup(tmp_path / "s.db")
        assert await notifier.resume() == 1
        await _settle(notifier)
        assert await store.list(OUTBOX) == []
        await notifier.close()
        await store.close()

    event_id = asyncio.run(first_run())
    hook.default = 200
    asyncio.run(second_run())
    assert [b["EventId"] for b in hook.delivered()] == [event_id]


def test_the_deleted_event_still_reaches_the_target_the_cluster_had(tmp_path, hook):
    async def scenario():
        store, repo, _, events, notifier = await _setup(tmp_path / "s.db")
        await repo.create(Cluster("c1", "memcached", "1.6.18", "cache.t1.micro", 11211,
                                  notification_topic_arn=hook.url))
        await events.record("cache-cluster", "c1", "Cache cluster deleting")
        await repo.delete("c1")
        await events.record("cache-cluster", "c1", "Cache cluster deleted")
        await _settle(notifier)
        await notifier.close()
        await store.close()
    asyncio.run(scenario())
    assert sorted(hook.messages("c1")) == ["Cache cluster deleted", "Cache cluster deleting"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://0.0.0.0/",
    "http://localhost/", "http://LOCALHOST./", "http://api.localhost/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::]/", "http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/", "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://metadata.google.internal/",
])
def test_a_target_on_this_machine_or_a_metadata_service_is_refused_unless_allowed(url):
    with pytest.raises(ApiError) as exc:
        Webhooks().check_target(url)
    assert exc.value.code == "InvalidParameterValue" and "--notification-allow-local-targets" in exc.value.message
    assert LOCAL_OK.check_target(url) == url


def test_a_delivery_never_connects_to_a_local_address_whatever_the_name_resolved_to(hook):
    """The check at delivery is on the address connected to: a target set while its name
    pointed elsewhere (or a name the API cannot judge) reaches nothing local."""
    with pytest.raises(DeliveryError) as refused:
        post(hook.url, {"EventId": "1"}, 2, Webhooks().opener)
    assert "loopback, link-local or metadata" in str(refused.value)
    with pytest.raises(DeliveryError):
        post(hook.url.replace("127.0.0.1", "localhost"), {"EventId": "2"}, 2, Webhooks().opener)
    assert hook.delivered() == []
    assert post(hook.url, {"EventId": "3"}, 2, LOCAL_OK.opener) == 200
    assert [b["EventId"] for b in hook.delivered()] == ["3"]
