"""Customers' ratings of answers: one row per rated message, stored, replaced, removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.storage.models import Message, MessageFeedback, utcnow

FEEDBACK = MessageFeedback.__table__
MESSAGES = Message.__table__


@dataclass(frozen=True)
class Rating:
    """A customer's rating of one message, as stored."""

    message_id: int
    rating: str
    comment: str | None
    updated_at: datetime


class FeedbackStore:
    """Keep customers' ratings; every write is committed at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def message(self, conversation_id: str, message_id: int) -> Row | None:
        """Return the id and role of a message of that conversation, or None when it has none with that id."""
        query = select(MESSAGES.c.id, MESSAGES.c.role).where(
            MESSAGES.c.id == message_id, MESSAGES.c.conversation_id == conversation_id
        )
        return self.session.connection().execute(query).first()

    def rate(self, conversation_id: str, message_id: int, rating: str, comment: str | None) -> Rating:
        """Store a rating, or replace the one the message has (it keeps its first created_at)."""
        now = utcnow()
        values = {"rating": rating, "comment": comment, "updated_at": now}
        replace = update(FEEDBACK).where(FEEDBACK.c.message_id == message_id).values(**values)
        if not self.session.connection().execute(replace).rowcount:
            new = insert(FEEDBACK).values(message_id=message_id, conversation_id=conversation_id, created_at=now, **values)
            try:
                self.session.connection().execute(new)
                self.session.commit()
            except IntegrityError:  # another request rated it at the same moment: replace that rating instead
                self.session.rollback()
                self.session.connection().execute(replace)
        self.session.commit()
        return Rating(message_id, rating, comment, now)

    def remove(self, message_id: int) -> None:
        """Remove a message's rating, if it has one."""
        self.session.connection().execute(delete(FEEDBACK).where(FEEDBACK.c.message_id == message_id))
        self.session.commit()
