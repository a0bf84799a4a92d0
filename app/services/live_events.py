"""Live notifications across processes and instances: a change made anywhere wakes whoever waits for it.

The database stays the source of truth. A notification only WAKES a reader, which then reads
the database after the last thing it sent; so a notification lost (Redis away, a reconnection)
costs at most the reader's next periodic re-read, never data. The pattern every reader follows:

    hub = live_events()                                        # the app's hub (app/services/__init__.py)
    with hub.subscribe(f"conversation:{conversation_id}") as subscription:
        last = send_newer_than(after)                          # the backlog, read AFTER subscribing
        while not finished():
            subscription.wait(heartbeat_seconds)               # woken, or time for a heartbeat
            last = send_newer_than(last)                       # read again either way

and every writer, after its commit: `hub.publish(f"conversation:{conversation_id}", {...})`.
Subscribe inside the stream's generator, so that the client leaving (GeneratorExit) closes the
subscription; one left open keeps its slot until the hub is gone.

With REDIS_URL, each process has ONE pub/sub connection, read by one thread (a greenlet under
gevent), however many subscriptions are open. The connection subscribes once to the pattern
`<REDIS_KEY_PREFIX>live:*`, which covers every channel before anyone asks for it, so
`subscribe()` only registers locally: no round trip and no state in Redis per stream, nothing
to redo per channel after a reconnection. The thread hands each message to the subscriptions
of its channel in this process. Every process receives every notification of the deployment,
which costs little at a support desk's rate and spares a SUBSCRIBE round trip per stream.

Nothing published after `subscribe()` returns is missed: the first subscription of a process
starts the thread and waits (CONNECT_WAIT_SECONDS at most) until the pattern subscription is
confirmed; and after every (re)connection every subscription is woken, because whatever was
published while the connection was down is gone.

Redis going away: the thread reconnects with backoff (0.1 s doubling to 2 s); a connection that
goes quiet is pinged, and one that does not answer is dropped (a half-open connection after a
network failure would otherwise hang forever). Meanwhile waiters wake on their timeouts, and a
failed PUBLISH wakes this process's own subscriptions directly; Redis is tried again 5 s later,
or as soon as this process's listener is back. `connected()` tells /ready whether this process
hears the others.

Without REDIS_URL, notifications go only to subscriptions in the same process (the development
server, tests): one process only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import structlog
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.retry import Retry

from app import metrics
from app.services.redis_client import SOCKET_TIMEOUT_SECONDS, connect

log = structlog.get_logger(__name__)

PING_SECONDS = 5.0  # a quiet connection is pinged after this long, and dropped if still silent as long again
CONNECT_WAIT_SECONDS = 1.0  # the first subscribe() of a process waits at most this long for the connection
PUBLISH_RETRY_SECONDS = 5.0  # after a failed PUBLISH, notify this process only, for this long (or until reconnected)
KEPT_NOTIFICATIONS = 100  # payloads a subscription keeps until received(); the oldest go first
RECONNECT_BACKOFF = EqualJitterBackoff(cap=2.0, base=0.1)  # 0.1 s, 0.2 s, 0.4 s, ... up to 2 s, jittered


@dataclass(frozen=True)
class Notification:
    """A published notification: its channel (as the publisher named it) and its payload (do not mutate)."""

    channel: str
    payload: dict[str, Any]


class Subscription:
    """A waiter on one or more channels; use it as a context manager so that it is closed."""

    def __init__(self, hub: LiveEvents, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self._hub = hub
        self._condition = threading.Condition(threading.Lock())
        self._woken = False  # a flag, not an edge: a wake-up between two waits is kept for the next one
        self._received: deque[Notification] = deque(maxlen=KEPT_NOTIFICATIONS)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds; return whether anything woke this subscription since the last wait."""
        with self._condition:
            woken = self._condition.wait_for(lambda: self._woken, timeout)
            self._woken = False
        return woken

    def received(self) -> list[Notification]:
        """Return and forget the notifications received since the last call (the latest KEPT_NOTIFICATIONS)."""
        with self._condition:
            notifications = list(self._received)
            self._received.clear()
        return notifications

    def wake(self, notification: Notification | None = None) -> None:
        """Wake the waiter, keeping the notification if there is one (the hub calls this)."""
        with self._condition:
            self._woken = True
            if notification is not None:
                self._received.append(notification)
            self._condition.notify_all()

    def close(self) -> None:
        """Stop receiving notifications (closing twice is harmless)."""
        self._hub.unsubscribe(self)


class LiveEvents:
    """The hub of one process: publishes notifications and wakes this process's subscriptions of their channel."""

    def __init__(
        self,
        redis_url: str,
        key_prefix: str,
        client: redis.Redis | None = None,
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        self.shared = bool(redis_url)  # True: across processes through Redis; False: this process only
        self._redis_url = redis_url
        self._namespace = f"{key_prefix}live:"
        self._client = (client or connect(redis_url)) if redis_url else None  # publishes
        self._ping_seconds = ping_seconds
        self._lock = threading.Lock()  # guards the registry; never held while waking anyone
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._start_lock = threading.Lock()
        self._listener: RedisListener | None = None
        self._publish_retry_at = 0.0

    def publish(self, channel: str, payload: dict[str, Any] | None = None) -> None:
        """Notify every subscription of `channel`, in every process; call it after the commit it announces.

        Fire and forget: a Redis failure is logged, not raised, and this process's own
        subscriptions are woken all the same. The payload must be JSON (a TypeError says if not).
        """
        data = orjson.dumps(payload or {})
        if self._client is not None and time.monotonic() >= self._publish_retry_at:
            try:
                self._client.publish(self._namespace + channel, data)
                return
            except redis.RedisError as error:
                self._publish_retry_at = time.monotonic() + PUBLISH_RETRY_SECONDS
                metrics.LIVE_EVENT_PUBLISH_FAILURES.inc()
                log.warning("live_event_publish_failed", error_type=type(error).__name__,
                            detail="only this process's subscriptions were notified")
        self._deliver(channel, data)

    def subscribe(self, *channels: str) -> Subscription:
        """Return a subscription to these channels, listening from the moment this returns."""
        if not channels:
            raise ValueError("subscribe to at least one channel")
        if self.shared:
            self._listening().wait_until_attempted(CONNECT_WAIT_SECONDS)
        subscription = Subscription(self, channels)
        with self._lock:
            for channel in channels:
                self._subscriptions.setdefault(channel, set()).add(subscription)
        metrics.LIVE_EVENT_SUBSCRIPTIONS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (Subscription.close calls this)."""
        removed = False
        with self._lock:
            for channel in subscription.channels:
                waiting = self._subscriptions.get(channel)
                if waiting is not None and subscription in waiting:
                    removed = True
                    waiting.discard(subscription)
                    if not waiting:
                        del self._subscriptions[channel]
        if removed:
            metrics.LIVE_EVENT_SUBSCRIPTIONS.dec()

    def connected(self) -> bool:
        """Return whether this process hears other processes' notifications (always, without Redis: none exist)."""
        if self._client is None:
            return True
        listener = self._listener
        if listener is not None:
            return listener.listening
        try:  # nothing subscribed here yet: whether Redis answers is what matters
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Stop the listening thread and close its connection; the next subscribe() starts them again."""
        with self._start_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def _listening(self) -> RedisListener:
        """Return the listener, started on first use (no lock is held while it starts: gevent may switch)."""
        with self._start_lock:
            listener, created = self._listener, self._listener is None
            if listener is None:
                listener = self._listener = RedisListener(
                    self._redis_url, self._namespace, self._deliver, self._reconnected, self._ping_seconds
                )
        if created:
            listener.start()
        return listener

    def _deliver(self, channel: str, data: bytes) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("live_event_malformed", detail="not a JSON object; subscribers are woken without it")
            payload = {}
        notification = Notification(channel, payload)
        with self._lock:
            waiting = list(self._subscriptions.get(channel, ()))
        for subscription in waiting:
            subscription.wake(notification)

    def _reconnected(self) -> None:
        """Wake every subscription (what was published while not listening is lost) and publish to Redis again."""
        self._publish_retry_at = 0.0
        with self._lock:
            waiting = set().union(*self._subscriptions.values())
        for subscription in waiting:
            subscription.wake()


class RedisListener:
    """One pub/sub connection and the thread that reads it, reconnecting with backoff until stopped."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        deliver: Callable[[str, bytes], None],
        connected: Callable[[], None],
        ping_seconds: float,
    ) -> None:
        # No retries inside redis-py: it would reconnect and resubscribe unseen, and after a
        # reconnection every subscription must be woken. This loop reconnects, and knows it.
        self._client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=ping_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._namespace = namespace
        self._pattern = glob_escape(namespace) + "*"
        self._control = f"{namespace.removesuffix('live:')}live-control:{uuid.uuid4().hex}"  # outside the pattern
        self._deliver = deliver
        self._connected = connected
        self._ping_seconds = ping_seconds
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._attempted = threading.Event()  # the first connection attempt is over, one way or the other
        self._failures = 0
        self._outage = False
        self._thread = threading.Thread(target=self._run, name="live-events", daemon=True)

    @property
    def listening(self) -> bool:
        """Return whether the pattern subscription stands right now."""
        return self._listening.is_set()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wait_until_attempted(self, timeout: float) -> None:
        """Wait until the first connection is made or has failed, at most `timeout` seconds."""
        self._attempted.wait(timeout)

    def stop(self) -> None:
        """Stop the thread and wait for it; close the connection."""
        self._stopping.set()
        try:  # wakes the thread's read at once; if Redis is away, the thread is between attempts, woken by the event
            self._client.publish(self._control, b"stop")
        except redis.RedisError:
            pass
        if self._thread.ident is not None:  # started (another thread may have been about to start it)
            self._thread.join(timeout=self._ping_seconds + 1.0)
        self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            pubsub = self._client.pubsub()
            try:
                self._listen(pubsub)
            except Exception as error:  # whatever happens, this thread must go on: it is the process's only ear
                self._failures += 1
                if not self._outage:
                    self._outage = True
                    log.warning("live_events_disconnected", error_type=type(error).__name__,
                                detail="waiters rely on their timeouts until Redis answers again")
            finally:
                self._listening.clear()
                self._attempted.set()
                pubsub.close()
            self._stopping.wait(RECONNECT_BACKOFF.compute(self._failures))

    def _listen(self, pubsub: redis.client.PubSub) -> None:
        pubsub.psubscribe(self._pattern)
        pubsub.subscribe(self._control)
        confirmations = 0
        heard_at, pinged = time.monotonic(), False
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=self._ping_seconds / 2)
            now = time.monotonic()
            if message is None:
                if now - heard_at >= self._ping_seconds:
                    if pinged:
                        raise redis.TimeoutError("Redis answered neither messages nor a PING")
                    pubsub.ping()
                    heard_at, pinged = now, True
                continue
            heard_at, pinged = now, False
            if message["type"] == "pmessage":
                self._deliver(message["channel"].decode("utf-8", "replace")[len(self._namespace):], message["data"])
            elif message["type"] in ("psubscribe", "subscribe"):
                confirmations += 1
                if confirmations == 2:
                    self._now_listening()

    def _now_listening(self) -> None:
        self._failures = 0
        self._listening.set()
        self._attempted.set()
        if self._outage:
            self._outage = False
            log.info("live_events_reconnected")
        self._connected()  # wake everyone: what was published while not listening is lost


def glob_escape(text: str) -> str:
    """Return text that a Redis PSUBSCRIBE pattern matches literally."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
