"""The queries of a handoff: conditional state changes with their event rows, agents' messages, the queue.

A change of state is one conditional UPDATE of the conversation (`WHERE state IN (...)`,
and the agent for release and close): its rowcount decides, so of two claims racing on
any number of instances exactly one changes the row. The event row is written in the
same transaction, after the UPDATE (which holds the row's lock until the commit). The
caller commits, so it can add its webhook event to the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.storage.conversations import CONVERSATIONS, MESSAGES
from app.storage.models import MessageFeedback, StaffAccount

ACCOUNTS = StaffAccount.__table__
FEEDBACK = MessageFeedback.__table__
HELD = ("waiting", "agent")  # a person has, or will have, the conversation: the bot is silent
# Conversations' states with the holding agent's name, in ConversationState's order (add the WHERE).
STATES = select(
    CONVERSATIONS.c.id, CONVERSATIONS.c.state, CONVERSATIONS.c.agent_id, ACCOUNTS.c.name,
    CONVERSATIONS.c.waiting_since, CONVERSATIONS.c.owner_key_id,
).select_from(CONVERSATIONS.outerjoin(ACCOUNTS, ACCOUNTS.c.id == CONVERSATIONS.c.agent_id))


@dataclass(frozen=True)
class ConversationState:
    """Who answers a conversation now: its state, the agent holding it (id and name), since when it waits."""

    id: str
    state: str
    agent_id: int | None
    agent: str | None
    waiting_since: datetime | None
    owner_key_id: str | None


@dataclass(frozen=True)
class Change:
    """One change of state to make: from which states, to which, and what the conversation's row becomes."""

    event: str
    allowed_from: tuple[str, ...]
    state: str
    values: dict[str, Any]
    held_by: int | None = None  # the change needs this agent to hold the conversation


class HandoffStore:
    """Change conversations' states and read what the support team needs; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def connection(self) -> Connection:
        """Return the connection of the session's transaction (for the webhook's outbox)."""
        return self.session.connection()

    def state(self, conversation_id: str) -> ConversationState | None:
        """Return a conversation's state and the name of the agent holding it; None when there is none."""
        row = self.connection.execute(STATES.where(CONVERSATIONS.c.id == conversation_id)).first()
        return ConversationState(*row) if row is not None else None

    def change(self, conversation_id: str, change: Change, now: datetime, **event: Any) -> int | None:
        """Make a change if the conversation is in one of its states; return the event row's id, or None if not."""
        statement = update(CONVERSATIONS).where(
            CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.state.in_(change.allowed_from)
        )
        if change.held_by is not None:
            statement = statement.where(CONVERSATIONS.c.agent_id == change.held_by)
        values = {"state": change.state, "last_message_at": now, **change.values}
        if not self.connection.execute(statement.values(**values)).rowcount:
            return None
        return self.insert(conversation_id, "event", "", now, event=change.event, state=change.state, **event)

    def insert(self, conversation_id: str, role: str, content: str, now: datetime, **fields: Any) -> int:
        """INSERT one message in the current transaction and return its id."""
        return int(self.connection.execute(
            MESSAGES.insert().returning(MESSAGES.c.id),
            {"conversation_id": conversation_id, "role": role, "content": content, "created_at": now,
             "interrupted": False, **fields},
        ).scalar_one())

    def touch_if_agents(self, conversation_id: str, agent_id: int, now: datetime) -> bool:
        """Mark a conversation active if this agent holds it (and lock its row); return whether it does."""
        statement = (
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.state == "agent",
                   CONVERSATIONS.c.agent_id == agent_id)
            .values(last_message_at=now)
        )
        return bool(self.connection.execute(statement).rowcount)

    def touch_if_held(self, conversation_id: str, now: datetime) -> bool:
        """Mark a conversation active if a person has it (waiting or agent), locking its row; return whether so."""
        statement = (
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.state.in_(HELD))
            .values(last_message_at=now)
        )
        return bool(self.connection.execute(statement).rowcount)

    def latest_handoff_message(self, conversation_id: str) -> Row | None:
        """Return the newest handoff message the customer was sent (id, content), or None."""
        return self.connection.execute(
            select(MESSAGES.c.id, MESSAGES.c.content)
            .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.role == "assistant",
                   MESSAGES.c.source == "handoff")
            .order_by(MESSAGES.c.id.desc())
            .limit(1)
        ).first()

    def latest_handoff_event(self, conversation_id: str) -> Row | None:
        """Return the newest handoff event of a conversation (trigger, detail), or None."""
        return self.connection.execute(
            select(MESSAGES.c.trigger, MESSAGES.c.detail)
            .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.event == "handoff")
            .order_by(MESSAGES.c.id.desc())
            .limit(1)
        ).first()

    def last_customer_message(self, conversation_id: str) -> str | None:
        """Return the text of a conversation's newest customer message, or None."""
        return self.connection.execute(
            select(MESSAGES.c.content)
            .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.role == "user")
            .order_by(MESSAGES.c.id.desc())
            .limit(1)
        ).scalar()

    def queue(self, agent_id: int, limit: int) -> tuple[list[ConversationState], list[ConversationState]]:
        """Return the waiting conversations (oldest first) and those this agent holds (longest held first)."""
        oldest_first = (CONVERSATIONS.c.waiting_since, CONVERSATIONS.c.id)
        waiting = STATES.where(CONVERSATIONS.c.state == "waiting").order_by(*oldest_first)
        mine = STATES.where(CONVERSATIONS.c.state == "agent", CONVERSATIONS.c.agent_id == agent_id).order_by(
            *oldest_first
        )
        return (
            [ConversationState(*row) for row in self.connection.execute(waiting.limit(limit))],
            [ConversationState(*row) for row in self.connection.execute(mine.limit(limit))],
        )

    def recent_question_errors(self, conversation_id: str, count: int) -> list[str | None]:
        """Return the error codes of a conversation's newest `count` questions, newest first (None: answered)."""
        return list(self.connection.execute(
            select(MESSAGES.c.error_code)
            .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.role == "user")
            .order_by(MESSAGES.c.id.desc())
            .limit(count)
        ).scalars())

    def waiting_count(self) -> int:
        """Return how many conversations wait for a person."""
        return int(self.connection.execute(
            select(func.count()).select_from(CONVERSATIONS).where(CONVERSATIONS.c.state == "waiting")
        ).scalar_one())

    def messages_after(self, conversation_id: str, after: int, roles: Sequence[str]) -> list[Row]:
        """Return a conversation's messages of these roles newer than `after`, oldest first, with agents' names."""
        return list(self.connection.execute(
            select(MESSAGES)
            .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.id > after,
                   MESSAGES.c.role.in_(roles))
            .order_by(MESSAGES.c.id)
        ))

    def customer_messages_for(self, agent_id: int, after: int) -> list[Row]:
        """Return customer messages newer than `after` in conversations this agent holds, oldest first."""
        return list(self.connection.execute(
            select(MESSAGES.c.id, MESSAGES.c.conversation_id, MESSAGES.c.role, MESSAGES.c.content,
                   MESSAGES.c.created_at)
            .join(CONVERSATIONS, CONVERSATIONS.c.id == MESSAGES.c.conversation_id)
            .where(CONVERSATIONS.c.state == "agent", CONVERSATIONS.c.agent_id == agent_id,
                   MESSAGES.c.role == "user", MESSAGES.c.id > after)
            .order_by(MESSAGES.c.id)
            .limit(500)
        ))

    def newest_message_id(self, conversation_id: str | None = None) -> int:
        """Return the newest message id (of one conversation, or of all); 0 when there is none."""
        query = select(func.max(MESSAGES.c.id))
        if conversation_id is not None:
            query = query.where(MESSAGES.c.conversation_id == conversation_id)
        return int(self.connection.execute(query).scalar() or 0)

    def feedback(self, message_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Return the customers' ratings of these messages, by message id."""
        ids = list(message_ids)
        if not ids:
            return {}
        rows = self.connection.execute(
            select(FEEDBACK.c.message_id, FEEDBACK.c.rating, FEEDBACK.c.comment).where(FEEDBACK.c.message_id.in_(ids))
        )
        return {row.message_id: {"rating": row.rating, "comment": row.comment} for row in rows}

    def commit(self) -> None:
        """Commit the transaction."""
        self.session.commit()

    def rollback(self) -> None:
        """Roll the transaction back."""
        self.session.rollback()

    def release_connection(self) -> None:
        """End the session's transaction and give its connection back to the pool (a stream waits idle next)."""
        self.session.close()
