"""The webhook outbox's queries: add an event in the caller's transaction, claim it, record how it went.

Claiming is one conditional UPDATE ... RETURNING, the same on PostgreSQL and SQLite. It
takes the oldest due `pending` row whose lease is free and which no older `pending` row
of the same conversation precedes (a helpdesk must hear of a handoff before its
messages), and writes a lease and a fresh lock token on it. On PostgreSQL the row is
chosen with FOR UPDATE SKIP LOCKED, so concurrent dispatchers pass over each other's
rows instead of queueing on them, and the outer WHERE re-checks the lease on the row as
committed; SQLite takes its one write lock for the whole statement. A finished attempt
is recorded only under the token that claimed it: a dispatcher whose lease ran out (and
whose row another took) changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Row, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from app.storage.models import LARGEST_ROW_ID, WebhookEvent

OUTBOX = WebhookEvent.__table__
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

_candidate = OUTBOX.alias("candidate")
_earlier = OUTBOX.alias("earlier")
NEXT_DUE = (  # the oldest claimable row: due, lease free, first pending one of its conversation
    select(_candidate.c.id)
    .where(
        _candidate.c.status == PENDING,
        _candidate.c.next_attempt_at <= bindparam("now"),
        or_(_candidate.c.locked_until.is_(None), _candidate.c.locked_until <= bindparam("now")),
        ~exists().where(
            _earlier.c.conversation_id == _candidate.c.conversation_id,
            _earlier.c.status == PENDING,
            _earlier.c.id < _candidate.c.id,
        ),
    )
    .order_by(_candidate.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite has no row locks to skip
    .scalar_subquery()
)
CLAIM = (
    update(OUTBOX)
    .where(
        OUTBOX.c.id == NEXT_DUE,
        OUTBOX.c.status == PENDING,
        or_(OUTBOX.c.locked_until.is_(None), OUTBOX.c.locked_until <= bindparam("now")),
    )
    .values(attempts=OUTBOX.c.attempts + 1, locked_until=bindparam("lease_until"), lock_token=bindparam("token"),
            last_attempt_at=bindparam("now"))
    .returning(OUTBOX.c.id, OUTBOX.c.event_id, OUTBOX.c.event, OUTBOX.c.conversation_id, OUTBOX.c.payload,
               OUTBOX.c.attempts)
)
# An UPDATE without values() sets the columns named in its parameters.
FINISH = update(OUTBOX).where(OUTBOX.c.id == bindparam("row_id"), OUTBOX.c.lock_token == bindparam("token"))
REQUEUE = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"), OUTBOX.c.status == FAILED)
    .values(status=PENDING, attempts=0, next_attempt_at=bindparam("now"), finished_at=None)
)
NEW_EVENT = insert(OUTBOX)
FAILURE_COLUMNS = [column for column in OUTBOX.c if column.name not in ("payload", "locked_until", "lock_token")]


@dataclass(frozen=True)
class ClaimedEvent:
    """An outbox row a dispatcher holds the lease on: what to send, and the token to report back with."""

    id: int
    event_id: str
    event: str
    conversation_id: str
    payload: str
    attempt: int  # this attempt's number, from 1
    token: str


class OutboxStore:
    """The outbox table; every method but `add` runs in a short transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def add(connection: Connection, event: str, conversation_id: str, payload: str, event_id: str,
            now: datetime) -> None:
        """INSERT one pending event in the caller's transaction (the caller commits or rolls back)."""
        connection.execute(NEW_EVENT, {
            "event_id": event_id, "event": event, "conversation_id": conversation_id, "payload": payload,
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
        })

    def claim(self, now: datetime, lease_until: datetime) -> ClaimedEvent | None:
        """Take the lease on the next event due, counting the attempt; None when nothing is due."""
        token = str(uuid.uuid4())
        with self.engine.begin() as connection:
            row = connection.execute(CLAIM, {"now": now, "lease_until": lease_until, "token": token}).first()
        if row is None:
            return None
        return ClaimedEvent(row.id, row.event_id, row.event, row.conversation_id, row.payload, row.attempts, token)

    def delivered(self, claimed: ClaimedEvent, now: datetime) -> bool:
        """Record a delivery; False if the lease was lost to another dispatcher."""
        return self._finish(claimed, status=DELIVERED, finished_at=now, last_error=None)

    def retry_at(self, claimed: ClaimedEvent, when: datetime, error: str) -> bool:
        """Put the event back for another attempt at `when`; False if the lease was lost."""
        return self._finish(claimed, status=PENDING, next_attempt_at=when, last_error=error)

    def failed(self, claimed: ClaimedEvent, now: datetime, error: str) -> bool:
        """Give up on the event; False if the lease was lost."""
        return self._finish(claimed, status=FAILED, finished_at=now, last_error=error)

    def _finish(self, claimed: ClaimedEvent, **columns: object) -> bool:
        parameters = {"row_id": claimed.id, "token": claimed.token, "locked_until": None, "lock_token": None,
                      **columns}
        with self.engine.begin() as connection:
            return connection.execute(FINISH, parameters).rowcount == 1

    def failures(self, limit: int, before: int | None = None) -> list[Row]:
        """Return failed events (everything but the payload), newest first, at most `limit`, ids below `before`."""
        query = select(*FAILURE_COLUMNS).where(OUTBOX.c.status == FAILED)
        if before is not None:
            query = query.where(OUTBOX.c.id < before)
        with self.engine.connect() as connection:
            return list(connection.execute(query.order_by(OUTBOX.c.id.desc()).limit(limit)))

    def requeue(self, event_row_id: int, now: datetime) -> bool:
        """Make a failed event pending again, due now, with its attempts counted afresh; False if none failed.

        Row ids are 32-bit (INTEGER): a larger number names no event, and the database is not asked.
        """
        if not 0 < event_row_id <= LARGEST_ROW_ID:
            return False
        with self.engine.begin() as connection:
            return connection.execute(REQUEUE, {"row_id": event_row_id, "now": now}).rowcount == 1

    def counts(self) -> dict[str, int]:
        """Return how many events are pending and how many failed."""
        query = (select(OUTBOX.c.status, func.count()).where(OUTBOX.c.status.in_([PENDING, FAILED]))
                 .group_by(OUTBOX.c.status))
        with self.engine.connect() as connection:
            found = {status: count for status, count in connection.execute(query)}
        return {PENDING: found.get(PENDING, 0), FAILED: found.get(FAILED, 0)}

    def purge(self, delivered_before: datetime) -> int:
        """Delete events delivered before the given time; return how many."""
        statement = delete(OUTBOX).where(OUTBOX.c.status == DELIVERED, OUTBOX.c.finished_at < delivered_before)
        with self.engine.begin() as connection:
            return int(connection.execute(statement).rowcount or 0)
