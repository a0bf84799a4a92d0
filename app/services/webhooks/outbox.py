"""The helpdesk webhook as the rest of the app sees it: `enqueue()` in a transaction, `notify()` after its commit.

    webhooks = webhooks_service()                # app.services; or given to a service when it is built
    connection = session.connection()            # the transaction that changes the conversation
    ...UPDATE the conversation, INSERT its message...
    webhooks.enqueue(connection, "handoff.requested", conversation_id,
                     {"trigger": "customer_button", "reason": "...", "transcript": [...]})
    session.commit()                             # the event exists if, and only if, the change does
    webhooks.notify()                            # deliver now, not at the next poll

Enqueue after the statement that changes (and so locks) the conversation's row: two
transactions on one conversation then get their events' ids in commit order, which is
the order they are delivered in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from sqlalchemy import Engine, Row
from sqlalchemy.engine import Connection

from app.services.webhooks.dispatcher import Dispatcher
from app.services.webhooks.helpdesk import HelpdeskClient
from app.storage.models import utcnow
from app.storage.outbox import OutboxStore
from app.utils.timestamps import iso

log = structlog.get_logger(__name__)

EVENTS = ("handoff.requested", "message.created", "conversation.closed")


@dataclass(frozen=True)
class WebhookSettings:
    """The webhook's settings, checked: an empty URL turns the webhook off."""

    url: str = ""
    secret: str = ""
    max_attempts: int = 8
    timeout: float = 10.0
    poll_seconds: float = 5.0
    retry_backoff: float = 10.0
    retention_days: int = 7

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WebhookSettings:
        """Read the settings; raise ValueError, naming the setting, for one the webhook cannot work with."""
        settings = cls(
            url=config["HANDOFF_WEBHOOK_URL"].strip(),
            secret=config["HANDOFF_WEBHOOK_SECRET"],
            max_attempts=config["WEBHOOK_MAX_ATTEMPTS"],
            timeout=config["WEBHOOK_TIMEOUT"],
            poll_seconds=config["WEBHOOK_POLL_SECONDS"],
            retry_backoff=config["WEBHOOK_RETRY_BACKOFF"],
            retention_days=config["WEBHOOK_RETENTION_DAYS"],
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError for a setting out of range, or a URL without its secret."""
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"HANDOFF_WEBHOOK_URL must be an http:// or https:// URL, got {self.url!r}")
            if not self.secret:
                # Unsigned events would let anyone who finds the helpdesk's endpoint forge handoffs.
                raise ValueError("HANDOFF_WEBHOOK_SECRET must be set when HANDOFF_WEBHOOK_URL is (events are signed)")
        for name, value, least in (("WEBHOOK_MAX_ATTEMPTS", self.max_attempts, 1),
                                   ("WEBHOOK_RETENTION_DAYS", self.retention_days, 0)):
            if value < least:
                raise ValueError(f"{name} must be at least {least}, got {value}")
        for name, number in (("WEBHOOK_TIMEOUT", self.timeout), ("WEBHOOK_POLL_SECONDS", self.poll_seconds)):
            if number <= 0:
                raise ValueError(f"{name} must be more than 0, got {number}")
        if self.retry_backoff < 0:
            raise ValueError(f"WEBHOOK_RETRY_BACKOFF must not be negative, got {self.retry_backoff}")


@dataclass(frozen=True)
class FailurePage:
    """Failed events, newest first, and whether older ones remain."""

    events: list[Row]
    has_more: bool


class HelpdeskWebhooks:
    """Events for the helpdesk: written to the outbox with the change that caused them, sent by a dispatcher."""

    def __init__(self, settings: WebhookSettings, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.store = OutboxStore(engine)
        self.clock = clock
        self.dispatcher: Dispatcher | None = None

    @property
    def enabled(self) -> bool:
        """Return whether events are recorded and sent (HANDOFF_WEBHOOK_URL is set)."""
        return bool(self.settings.url)

    def enqueue(self, connection: Connection, event: str, conversation_id: str, data: dict[str, Any]) -> None:
        """Add one event to the outbox in the caller's transaction (the caller commits); nothing without a URL.

        `event` is one of EVENTS; `data` (JSON-serialisable: str, numbers, lists, dicts,
        datetimes) becomes the body's "data". The body, with its event_id and occurred_at,
        is fixed now: every attempt sends the same bytes.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}; use one of {', '.join(EVENTS)}")
        if not self.enabled:
            return
        now, event_id = self.clock(), str(uuid.uuid4())
        body = {"event": event, "event_id": event_id, "occurred_at": iso(now),
                "conversation_id": conversation_id, "data": data}
        self.store.add(connection, event, conversation_id, orjson.dumps(body).decode(), event_id, now)

    def notify(self) -> None:
        """Wake this process's dispatcher: call after committing a transaction that enqueued events."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def failures(self, limit: int, before: int | None = None) -> FailurePage:
        """Return a page of failed events, newest first (ids below `before`, if given)."""
        events = self.store.failures(limit + 1, before)
        return FailurePage(events[:limit], len(events) > limit)

    def retry(self, outbox_id: int) -> bool:
        """Queue a failed event again with a fresh count of attempts; False if there is no failed event with that id."""
        requeued = self.store.requeue(outbox_id, self.clock())
        if requeued:
            log.info("webhook_requeued", outbox_id=outbox_id)
            self.notify()
        return requeued

    def purge(self, older_than_days: int) -> int:
        """Delete events delivered more than `older_than_days` ago; return how many."""
        return self.store.purge(self.clock() - timedelta(days=older_than_days))

    def start_dispatcher(self) -> Dispatcher | None:
        """Start this process's dispatcher (once); None when the webhook is off."""
        if not self.enabled:
            return None
        if self.dispatcher is None or not self.dispatcher.running:
            settings = self.settings
            self.dispatcher = Dispatcher(
                self.store,
                HelpdeskClient(settings.url, settings.secret, settings.timeout),
                max_attempts=settings.max_attempts,
                poll_seconds=settings.poll_seconds,
                retry_backoff=settings.retry_backoff,
                clock=self.clock,
            )
            self.dispatcher.start()
        return self.dispatcher

    def stop_dispatcher(self, timeout: float = 10.0) -> None:
        """Stop this process's dispatcher, if it runs, after the attempt under way."""
        if self.dispatcher is not None:
            self.dispatcher.stop(timeout)
            self.dispatcher = None
