"""The live-events hub: a notification published anywhere wakes the subscriptions of its channel.

In one process without Redis, and across hubs with their own Redis connections (as two
instances have) with TEST_REDIS_URL; Redis dying, freezing and coming back with a private
redis-server. tests/test_live_events_processes.py runs hubs in other processes and under gevent.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import redis
from structlog.testing import capture_logs

from app.metrics import LIVE_EVENT_PUBLISH_FAILURES, LIVE_EVENT_SUBSCRIPTIONS
from app.services import live_events
from app.services.live_events import KEPT_NOTIFICATIONS, LiveEvents, Notification, glob_escape
from tests.support import wait_until


@pytest.fixture
def make_hub() -> Iterator[Callable[..., LiveEvents]]:
    """Build hubs (in-process by default), closed after the test."""
    with ExitStack() as hubs:

        def build(redis_url: str = "", prefix: str = "", **options: float) -> LiveEvents:
            hub = LiveEvents(redis_url, prefix, **options)
            hubs.callback(hub.close)
            return hub

        yield build


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own, so that tests sharing one Redis never hear each other."""
    return f"test-{uuid.uuid4().hex}:"


def listener_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "live-events"]


# In one process, without Redis


def test_a_notification_wakes_the_subscriptions_of_its_channel_only(make_hub):
    hub = make_hub()
    with hub.subscribe("conversation:1") as one, hub.subscribe("conversation:2") as two:
        hub.publish("conversation:1", {"message_id": 7})

        assert one.wait(1.0) is True
        assert one.received() == [Notification("conversation:1", {"message_id": 7})]
        assert two.wait(0.1) is False and two.received() == []


def test_a_wake_up_between_two_waits_is_kept_for_the_next_wait(make_hub):
    hub = make_hub()
    with hub.subscribe("conversation:1") as subscription:
        hub.publish("conversation:1")
        hub.publish("conversation:1")  # two before anyone waits: one wake-up, two payloads

        started = time.monotonic()
        assert subscription.wait(5.0) is True
        assert time.monotonic() - started < 0.5  # returned at once, not after the timeout
        assert subscription.wait(0.1) is False  # consumed
        assert [n.payload for n in subscription.received()] == [{}, {}]


def test_a_waiting_thread_is_woken_at_once_and_waiting_burns_no_cpu(make_hub):
    hub = make_hub()
    subscriptions = [hub.subscribe(f"conversation:{n}") for n in range(50)]
    woken_at: dict[int, float] = {}

    def wait(n: int) -> None:
        if subscriptions[n].wait(10.0):
            woken_at[n] = time.monotonic()

    threads = [threading.Thread(target=wait, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    time.sleep(1.0)  # 50 threads waiting, nothing published
    idle_cpu = time.process_time() - cpu
    published_at = time.monotonic()
    for n in range(50):
        hub.publish(f"conversation:{n}")
    for thread in threads:
        thread.join(5)

    assert idle_cpu < 0.2, f"waiting used {idle_cpu:.3f} s of CPU in 1 s"
    assert sorted(woken_at) == list(range(50))
    assert max(woken_at.values()) - published_at < 1.0


def test_one_subscription_may_listen_to_several_channels(make_hub):
    hub = make_hub()
    with hub.subscribe("conversation:9", "staff") as console:
        hub.publish("staff", {"queue": "changed"})
        hub.publish("conversation:9", {"message_id": 3})
        hub.publish("conversation:10")

        assert console.wait(1.0)
        assert [(n.channel, n.payload) for n in console.received()] == [
            ("staff", {"queue": "changed"}), ("conversation:9", {"message_id": 3})
        ]


def test_closing_a_subscription_frees_its_slot(make_hub):
    hub = make_hub()
    open_before = LIVE_EVENT_SUBSCRIPTIONS._value.get()
    with hub.subscribe("conversation:1", "staff") as subscription:
        assert LIVE_EVENT_SUBSCRIPTIONS._value.get() == open_before + 1
    subscription.close()  # twice is harmless
    hub.publish("conversation:1")

    assert LIVE_EVENT_SUBSCRIPTIONS._value.get() == open_before
    assert subscription.wait(0.05) is False
    with hub.subscribe("conversation:1") as other:  # the channel works for others
        hub.publish("conversation:1")
        assert other.wait(1.0)


def test_a_subscription_keeps_only_the_latest_payloads(make_hub):
    hub = make_hub()
    with hub.subscribe("staff") as subscription:
        for n in range(KEPT_NOTIFICATIONS + 5):
            hub.publish("staff", {"n": n})

        kept = subscription.received()
        assert [n.payload["n"] for n in kept] == list(range(5, KEPT_NOTIFICATIONS + 5))
        assert subscription.received() == []


def test_payloads_must_be_json_and_channels_must_be_named(make_hub):
    hub = make_hub()
    with pytest.raises(TypeError):
        hub.publish("staff", {"when": object()})
    with pytest.raises(ValueError):
        hub.subscribe()


def test_without_redis_the_hub_is_local_and_healthy(make_hub):
    hub = make_hub()
    assert hub.shared is False and hub.connected() is True
    assert listener_threads() == []


def test_the_app_has_a_hub_local_without_redis_url_and_shared_with_it(make_app, prefix):
    local = make_app()
    shared = make_app(REDIS_URL="redis://127.0.0.1:1/0", REDIS_KEY_PREFIX=prefix)

    with local.app_context():
        assert live_events() is local.extensions["live_events"] and live_events().shared is False
    with shared.app_context():
        assert live_events().shared is True
        assert live_events().connected() is False  # nothing answers on port 1


def test_glob_escape_makes_a_prefix_literal():
    assert glob_escape("shop[1]*?\\:") == "shop\\[1\\]\\*\\?\\\\:"
    assert glob_escape("greengrocer:live:") == "greengrocer:live:"


# Across hubs that share Redis (two instances, or two workers)


def test_a_notification_reaches_a_subscription_of_another_hub_within_2_seconds(make_hub, redis_url, prefix):
    listening, publishing = make_hub(redis_url, prefix), make_hub(redis_url, prefix)
    assert publishing.connected()  # nothing subscribed there yet: Redis answers a PING
    latencies = []
    with listening.subscribe("conversation:1") as subscription:
        assert listening.connected()
        for n in range(20):
            started = time.monotonic()
            publishing.publish("conversation:1", {"n": n})
            assert subscription.wait(2.0)
            latencies.append(time.monotonic() - started)
            assert [note.payload for note in subscription.received()] == [{"n": n}]

    assert max(latencies) < 2.0, latencies


def test_what_is_published_right_after_subscribe_returns_is_heard(make_hub, redis_url, prefix):
    publishing = make_hub(redis_url, prefix)
    for n in range(5):
        hub = make_hub(redis_url, prefix)  # a new process: its first subscription starts the listener
        with hub.subscribe(f"conversation:{n}") as subscription:
            publishing.publish(f"conversation:{n}", {"n": n})

            assert subscription.wait(2.0)
            assert [note.payload for note in subscription.received()] == [{"n": n}]


def test_hubs_with_another_prefix_hear_nothing_even_with_glob_characters(make_hub, redis_url, prefix):
    odd = prefix.replace(":", "[ab]*?:")
    listening = make_hub(redis_url, odd)
    near_miss = make_hub(redis_url, prefix.replace(":", "a-anything:"))  # what `[ab]*` would match unescaped
    same = make_hub(redis_url, odd)
    with listening.subscribe("c") as subscription:
        near_miss.publish("c")
        assert subscription.wait(0.5) is False
        same.publish("c")
        assert subscription.wait(2.0)


def test_a_notification_that_is_not_a_json_object_still_wakes(make_hub, redis_url, prefix):
    hub = make_hub(redis_url, prefix)
    with hub.subscribe("conversation:1") as subscription, capture_logs() as logs:
        redis.Redis.from_url(redis_url).publish(f"{prefix}live:conversation:1", b"not json")

        assert subscription.wait(2.0)
        assert subscription.received() == [Notification("conversation:1", {})]
    assert [line["log_level"] for line in logs if line["event"] == "live_event_malformed"] == ["warning"]


def test_many_subscriptions_share_one_redis_connection(make_hub, private_redis):
    observer = redis.Redis.from_url(private_redis.url)
    listening, publishing = make_hub(private_redis.url, "shop:"), make_hub(private_redis.url, "shop:")
    with ExitStack() as stack:
        subscriptions = [stack.enter_context(listening.subscribe(f"conversation:{n}")) for n in range(2000)]
        woken = []
        waiters = [threading.Thread(target=lambda s=s: woken.append(s.wait(10.0))) for s in subscriptions[:200]]
        for waiter in waiters:
            waiter.start()
        for n in range(2000):
            publishing.publish(f"conversation:{n}")
        for waiter in waiters:
            waiter.join(10)

        clients = observer.client_list()
        assert woken == [True] * 200
        assert all(subscription.wait(2.0) for subscription in subscriptions[200:])
    subscribed = [client for client in clients if int(client["psub"]) or int(client["sub"])]
    assert len(subscribed) == 1 and int(subscribed[0]["psub"]) == 1  # one listener, one pattern
    assert len(clients) <= 3, clients  # the listener, the publisher's connection, the observer


def test_when_redis_dies_waiters_time_out_and_after_its_restart_all_are_woken(make_hub, private_redis):
    hub, other = make_hub(private_redis.url, "shop:"), make_hub(private_redis.url, "shop:")
    failures = LIVE_EVENT_PUBLISH_FAILURES._value.get()
    with capture_logs() as logs, hub.subscribe("conversation:1") as subscription:
        assert hub.connected()
        private_redis.stop()
        assert wait_until(lambda: not hub.connected(), 3.0)

        assert subscription.wait(0.3) is False  # waiting goes on, on timeouts
        hub.publish("conversation:1", {"during": "outage"})  # no error: this process is notified directly
        assert subscription.wait(1.0) and subscription.received()[0].payload == {"during": "outage"}
        assert LIVE_EVENT_PUBLISH_FAILURES._value.get() == failures + 1
        hub.publish("conversation:1")  # soon after a failure, Redis is not tried again
        assert LIVE_EVENT_PUBLISH_FAILURES._value.get() == failures + 1 and subscription.wait(1.0)

        private_redis.start()  # same port, empty: every subscription there is gone
        assert wait_until(hub.connected, 5.0)
        assert subscription.wait(1.0)  # woken by the reconnection: what was published meanwhile is lost
        other.publish("conversation:1", {"after": "restart"})
        assert subscription.wait(2.0) and subscription.received()[-1].payload == {"after": "restart"}
        with other.subscribe("conversation:2") as elsewhere:
            hub.publish("conversation:2")  # back on Redis at once, with the listener
            assert elsewhere.wait(2.0)

    events = [line["event"] for line in logs if line["event"].startswith("live_event")]
    assert events.count("live_events_disconnected") == 1  # once per outage, not per attempt
    assert events.count("live_event_publish_failed") == 1 and events.count("live_events_reconnected") == 1


def test_a_frozen_redis_is_noticed_by_its_silence_and_left_when_it_thaws(make_hub, private_redis):
    hub, other = make_hub(private_redis.url, "shop:", ping_seconds=0.5), make_hub(private_redis.url, "shop:")
    with hub.subscribe("conversation:1") as subscription:
        private_redis.pause()  # connections stay open; nothing answers
        try:
            assert wait_until(lambda: not hub.connected(), 4.0)
        finally:
            private_redis.resume()
        assert wait_until(hub.connected, 5.0)
        assert subscription.wait(1.0)  # the reconnection wakes it
        other.publish("conversation:1")
        assert subscription.wait(2.0)


def test_a_quiet_healthy_connection_is_kept(make_hub, redis_url, prefix):
    hub, other = make_hub(redis_url, prefix, ping_seconds=0.2), make_hub(redis_url, prefix)
    with capture_logs() as logs, hub.subscribe("conversation:1") as subscription:
        assert subscription.wait(1.5) is False  # several ping periods without a notification
        assert hub.connected()
        other.publish("conversation:1")
        assert subscription.wait(2.0)
        assert subscription.wait(0.1) is False  # no reconnection woke it meanwhile
    assert [line for line in logs if line["event"].startswith("live_event")] == []


def test_close_stops_the_listener_even_with_redis_gone_and_subscribe_starts_it_again(make_hub, private_redis):
    hub = make_hub(private_redis.url, "shop:")
    with hub.subscribe("conversation:1"):
        assert len(listener_threads()) == 1
    hub.close()
    assert listener_threads() == []

    with hub.subscribe("conversation:1") as subscription:
        assert wait_until(hub.connected, 2.0) and len(listener_threads()) == 1
        private_redis.stop()
        assert wait_until(lambda: not hub.connected(), 3.0)
        started = time.monotonic()
        hub.close()
        assert time.monotonic() - started < 1.0 and listener_threads() == []
        assert subscription.wait(0.05) is False
