"""Customers' ratings of answers: one row per rated message, stored, replaced, removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.storage.models import Message, MessageFeedback, utcnow

FEEDBACK = MessageFeedback.__table__
MESSAGES = Message.__table__
UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}  # the two databases we run on
RATED_ROLES = frozenset({"assistant", "agent"})  # what a customer may rate: the bot's answers and a person's


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
        """Store a rating, or replace the one the message has (it keeps its first created_at), in one statement."""
        now = utcnow()
        connection = self.session.connection()
        dialect_insert = UPSERTS[connection.dialect.name]  # INSERT ... ON CONFLICT: two raters at once cannot collide
        new = dialect_insert(FEEDBACK).values(
            message_id=message_id, conversation_id=conversation_id, rating=rating, comment=comment,
            created_at=now, updated_at=now,
        )
        connection.execute(
            new.on_conflict_do_update(
                index_elements=[FEEDBACK.c.message_id],
                set_={"rating": new.excluded.rating, "comment": new.excluded.comment, "updated_at": new.excluded.updated_at},
            )
        )
        self.session.commit()
        return Rating(message_id, rating, comment, now)

    def remove(self, message_id: int) -> None:
        """Remove a message's rating, if it has one."""
        self.session.connection().execute(delete(FEEDBACK).where(FEEDBACK.c.message_id == message_id))
        self.session.commit()
