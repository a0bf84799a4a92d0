"""The dispatcher: a background thread per process (a greenlet under gevent) that delivers the outbox.

It wakes when this process commits an event (`wake()`) or every WEBHOOK_POLL_SECONDS
(events of other processes, retries that came due, leases a crashed dispatcher left),
then claims and sends one due event after another until none is left. No database
connection is held while it POSTs: claiming and recording are transactions of their
own. A claim is a lease of WEBHOOK_TIMEOUT + LEASE_MARGIN_SECONDS; when a dispatcher dies
mid-attempt its lease runs out and another takes the event over (the one case where the
helpdesk may get an event twice; it dedupes on X-Event-ID). Instances' clocks must agree
to well within the margin.

Retries: our own few lines rather than a retry library's, because the wait is not a
sleep in this process but the row's `next_attempt_at`, which survives a restart.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from app.metrics import record_webhook_delivery, set_webhook_outbox
from app.services.webhooks.helpdesk import Attempt, HelpdeskClient
from app.storage.models import utcnow
from app.storage.outbox import ClaimedEvent, OutboxStore

log = structlog.get_logger(__name__)

LEASE_MARGIN_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0


def backoff(attempt: int, base: float, asked: float | None = None) -> float:
    """Return the wait after failed attempt `attempt` (from 1): base, doubling, ±20 % jitter, at least Retry-After.

    An hour at most, whatever the helpdesk asks.
    """
    pause = min(base * 2 ** min(attempt - 1, 32), MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)
    if asked is not None:
        pause = max(pause, asked)
    return min(pause, MAX_BACKOFF_SECONDS)


class Dispatcher:
    """Deliver the outbox's due events to the helpdesk, in order per conversation, from a background thread."""

    def __init__(
        self,
        store: OutboxStore,
        client: HelpdeskClient,
        *,
        max_attempts: int,
        poll_seconds: float,
        retry_backoff: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.client = client
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.retry_backoff = retry_backoff
        self.lease = timedelta(seconds=client.timeout + LEASE_MARGIN_SECONDS)
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Return whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (it delivers what is due at once)."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()
        log.info("webhook_dispatcher_started", poll_seconds=self.poll_seconds)

    def wake(self) -> None:
        """Look for due events now rather than at the next poll (after a commit that added one)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the attempt under way, waiting `timeout` seconds at most; then close the connections."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.running:
            self.client.close()
        log.info("webhook_dispatcher_stopped", finished=not self.running)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking: a wake-up during the pass makes another pass
            try:
                self.deliver_due()
                set_webhook_outbox(self.store.counts())
            except Exception as error:  # the database is down or similar: say so, and try again later
                log.exception("webhook_dispatcher_error", error_type=type(error).__name__)
            self._wake.wait(self.poll_seconds)

    def deliver_due(self) -> int:
        """Send every event that is due, one after another; return how many attempts were made."""
        attempts = 0
        while not self._stopping.is_set():
            now = self.clock()
            claimed = self.store.claim(now, now + self.lease)
            if claimed is None:
                break
            self.attempt(claimed)
            attempts += 1
        return attempts

    def attempt(self, claimed: ClaimedEvent) -> str:
        """POST one claimed event, record the outcome (delivered, retry or failed) and return it."""
        started = time.monotonic()
        result = self.client.post(claimed.payload.encode(), event=claimed.event, event_id=claimed.event_id,
                                  attempt=claimed.attempt)
        now = self.clock()
        wait = None
        if result.delivered:
            outcome, kept = "delivered", self.store.delivered(claimed, now)
        elif result.retryable and claimed.attempt < self.max_attempts:
            wait = backoff(claimed.attempt, self.retry_backoff, result.retry_after)
            outcome, kept = "retry", self.store.retry_at(claimed, now + timedelta(seconds=wait), result.summary)
        else:
            outcome, kept = "failed", self.store.failed(claimed, now, result.summary)
        record_webhook_delivery(outcome)
        self._log(claimed, result, outcome, time.monotonic() - started, wait, kept)
        return outcome

    def _log(self, claimed: ClaimedEvent, result: Attempt, outcome: str, seconds: float, wait: float | None,
             kept: bool) -> None:
        """Write the attempt's one line: the event's ids, the attempt, the status or error; never body or secret."""
        level = {"delivered": log.info, "retry": log.warning, "failed": log.error}[outcome]
        level(
            "webhook_delivery",
            outcome=outcome,
            webhook_event=claimed.event,
            event_id=claimed.event_id,
            conversation_id=claimed.conversation_id,
            attempt=claimed.attempt,
            status=result.status,
            error=None if result.delivered else result.summary,
            retry_in_s=round(wait, 3) if wait is not None else None,
            duration_ms=round(seconds * 1000, 1),
        )
        if not kept:  # our lease ran out and another dispatcher took the event: its record stands
            log.warning("webhook_lease_lost", event_id=claimed.event_id, attempt=claimed.attempt)
