"""The few queries the chat service needs: conversations and their messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.storage.models import Conversation, Message, utcnow


class ConversationStore:
    """Keep conversations and their messages; every write is committed at once.

    Nothing is read back after a commit: the session expires what it committed, so reading
    an attribute then would cost a SELECT and begin a new transaction, which keeps a pooled
    connection checked out until the request ends (through a whole DeepSeek call).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self) -> str:
        """Start a conversation and return its id, a random UUID4."""
        conversation_id = self._new_conversation(utcnow())
        self.session.commit()
        return conversation_id

    def start(self, first_message: str) -> tuple[str, int]:
        """Start a conversation with its first (user) message, in one transaction; return both ids."""
        now = utcnow()
        conversation_id = self._new_conversation(now)
        message = Message(conversation_id=conversation_id, role="user", content=first_message, created_at=now)
        self.session.add(message)
        self.session.flush()  # the conversation, then the message; its id comes back from the INSERT
        message_id = message.id
        self.session.commit()
        return conversation_id, message_id

    def _new_conversation(self, now: datetime) -> str:
        conversation_id = str(uuid.uuid4())
        self.session.add(Conversation(id=conversation_id, created_at=now, last_message_at=now))
        return conversation_id

    def get(self, conversation_id: str) -> Conversation | None:
        """Return the conversation, or None when there is none with that id."""
        return self.session.get(Conversation, conversation_id)

    def add_message(self, conversation_id: str, role: str, content: str, **fields: object) -> int:
        """Store a message and return its id."""
        now = utcnow()
        message = Message(conversation_id=conversation_id, role=role, content=content, created_at=now, **fields)
        self.session.add(message)
        # One UPDATE, no SELECT first; it flushes the INSERT before it.
        self.session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=now)
        )
        message_id = message.id
        self.session.commit()
        return message_id

    def mark_failed(self, message_id: int, error_code: str) -> None:
        """Record that the answer to a user message failed, and why."""
        message = self.session.get(Message, message_id)
        if message is not None:
            message.error_code = error_code
            self.session.commit()

    def messages(self, conversation_id: str) -> list[Message]:
        """Return every message of a conversation, oldest first."""
        query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        return list(self.session.scalars(query))

    def recent_turns(self, conversation_id: str, max_messages: int, max_chars: int) -> list[tuple[Message, Message]]:
        """Return the newest complete turns (question and full answer) that fit both limits, oldest first.

        Failed turns and answers cut short are left out, so what is sent back to the
        model always alternates question, answer.
        """
        scan = max(max_messages, 1) * 4  # room for failed turns between the complete ones
        query = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(scan)
        )
        newest_first = list(self.session.scalars(query))
        turns = complete_turns(list(reversed(newest_first)))
        kept: list[tuple[Message, Message]] = []
        count = chars = 0
        for question, answer in reversed(turns):
            size = len(question.content) + len(answer.content)
            if count + 2 > max_messages or chars + size > max_chars:
                break
            kept.append((question, answer))
            count, chars = count + 2, chars + size
        return list(reversed(kept))

    def delete(self, conversation_id: str) -> bool:
        """Delete a conversation and every message of it; return whether it existed."""
        self.session.execute(delete(Message).where(Message.conversation_id == conversation_id))
        deleted = self.session.execute(delete(Conversation).where(Conversation.id == conversation_id)).rowcount
        self.session.commit()
        return bool(deleted)

    def purge(self, older_than: datetime) -> int:
        """Delete conversations with no message newer than `older_than`; return how many."""
        stale = select(Conversation.id).where(Conversation.last_message_at < older_than)
        self.session.execute(delete(Message).where(Message.conversation_id.in_(stale)))
        deleted = self.session.execute(delete(Conversation).where(Conversation.last_message_at < older_than)).rowcount
        self.session.commit()
        return int(deleted or 0)

    def count(self) -> int:
        """Return how many conversations are stored."""
        return int(self.session.scalar(select(func.count()).select_from(Conversation)) or 0)


def complete_turns(messages: Sequence[Message]) -> list[tuple[Message, Message]]:
    """Pair each answered question with its answer; skip failed and interrupted turns."""
    turns = []
    for question, answer in zip(messages, messages[1:]):
        if (
            question.role == "user"
            and question.error_code is None
            and answer.role == "assistant"
            and not answer.interrupted
        ):
            turns.append((question, answer))
    return turns
