"""Tables: conversations and their messages; customers' feedback; staff accounts; the webhook outbox; the FAQ knowledge base."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


LARGEST_ROW_ID = 2**31 - 1  # every id column is INTEGER: 32 bits on PostgreSQL (SQLite refuses past 64)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """The declarative base for every table."""


class Conversation(Base):
    """A conversation: its random id is the only key a client holds to it.

    One started with an API key belongs to that key: `owner_key_id` is the key's short,
    non-secret id (never the key), and only that key may read, continue or delete it.
    `state` is who answers: `bot`, `waiting` (handed off, since `waiting_since`), `agent`
    (the staff account `agent_id` holds it) or `closed`.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("state IN ('bot', 'waiting', 'agent', 'closed')", name="ck_conversations_state"),
        Index("ix_conversations_state_waiting_since", "state", "waiting_since"),  # the agents' queue
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_key_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="bot", server_default="bot")
    agent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff_accounts.id", ondelete="SET NULL", name="fk_conversations_agent_id_staff_accounts"),
        index=True,
    )
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Message(Base):
    """One message of a conversation: the customer's (`user`), the bot's (`assistant`), a person's, or an event.

    A user message whose answer failed carries the failure's `error_code`; an answer cut
    short (the client left, or the stream broke) is kept with `interrupted` set. An answer
    from the FAQ (`faq` or `faq_fallback`) names its entry and score: the hit history.
    A message of role `agent` was written by the staff account `staff_id`, shown as
    `author`. A row of role `event` records a change of the conversation's state: `event`
    (what happened), `state` (the state after it), `trigger` and `detail` (a handoff's
    reason or a closing note, for staff only) and `author` (the agent, if one acted).
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_faq_id_created_at", "faq_id", "created_at"),  # hit counts and last hits, index-only
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(64))
    response_id: Mapped[str | None] = mapped_column(String(36))
    error_code: Mapped[str | None] = mapped_column(String(32))
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_hit_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    faq_id: Mapped[str | None] = mapped_column(String(64))
    faq_score: Mapped[float | None] = mapped_column(Float)
    author: Mapped[str | None] = mapped_column(String(64))
    staff_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff_accounts.id", ondelete="SET NULL", name="fk_messages_staff_id_staff_accounts")
    )
    event: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    trigger: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class MessageFeedback(Base):
    """A customer's rating of one answer (the bot's or an agent's): `up` or `down`, with an optional comment.

    One per message: rating again replaces it. It goes with its message and conversation.
    """

    __tablename__ = "message_feedback"
    __table_args__ = (
        CheckConstraint("rating IN ('up', 'down')", name="ck_message_feedback_rating"),
        Index("ix_message_feedback_rating_updated_at", "rating", "updated_at"),
    )

    message_id: Mapped[int] = mapped_column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffAccount(Base):
    """A support agent or admin: the display name customers see, a role, and the SHA-256 of their token.

    The token itself is never stored. `name_key` (the name case-folded) makes names
    unique whatever their case. A revoked account stays, with `revoked_at` set.
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (CheckConstraint("role IN ('agent', 'admin')", name="ck_staff_accounts_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """One event for the helpdesk webhook, in the outbox: written in the transaction of the change it reports.

    `payload` is the exact JSON body POSTed (and signed) on every attempt. A dispatcher
    claims a `pending` row by setting `lock_token` and a lease (`locked_until`); it ends
    `delivered` or, after WEBHOOK_MAX_ATTEMPTS or a refusal, `failed` with `last_error`.
    A row goes with its conversation (a deletion or the retention purge).
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="ck_webhook_outbox_status"),
        Index("ix_webhook_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_outbox_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lock_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FaqRecord(Base):
    """One FAQ entry of the live knowledge base: its answer, tags and place; its phrasings are `FaqPhrasing` rows.

    An entry promoted from a customer's question keeps a link to that message and its
    conversation; deleting the conversation clears the link, never the entry.
    """

    __tablename__ = "faq_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    from_message_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    from_conversation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FaqPhrasing(Base):
    """One way customers ask an FAQ entry's question, in its place among the entry's phrasings."""

    __tablename__ = "faq_phrasings"

    entry_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("faq_entries.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class FaqConcept(Base):
    """A concept of the knowledge base: the phrases that fold into it, and whether it is an aspect."""

    __tablename__ = "faq_concepts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    phrases: Mapped[list[str]] = mapped_column(JSON)
    aspect: Mapped[bool] = mapped_column(Boolean, default=False)


class KnowledgeBaseVersion(Base):
    """The one row that says which version of the knowledge base is current.

    Every change to entries or concepts bumps it in the same transaction, so a process
    that reads it knows whether its index is stale. No row at all means the knowledge base
    was never seeded; the seeding transaction inserts it, so exactly one process seeds.
    """

    __tablename__ = "knowledge_base_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_knowledge_base_version_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
