"""The few queries the chat service needs: conversations and their messages."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from psycopg.rows import namedtuple_row
from sqlalchemy import Dialect, Engine, Executable, Insert, bindparam, delete, func, insert, select, true, update
from sqlalchemy.orm import Session

from app.storage.models import Conversation, Message, utcnow

CONVERSATIONS = Conversation.__table__
MESSAGES = Message.__table__
# The per-answer statements, built once. They run as Core statements on the session's
# connection (its transaction, its commit): no unit of work, no identity map, no ORM
# compilation, which cost about a quarter of an FAQ answer's CPU. Each commit still expires
# whatever ORM objects the session holds, so none is left stale by these statements.
NEW_CONVERSATION = insert(CONVERSATIONS)
NEW_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
OPTIONAL_MESSAGE_COLUMNS = (
    "source", "model", "response_id", "error_code", "interrupted", "prompt_tokens", "completion_tokens", "cache_hit_tokens",
    "faq_id", "faq_score",
)
# An UPDATE without values() sets the columns named in its parameters (last_message_at).
TOUCH_CONVERSATION = update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("conversation_id"))
MARK_FAILED = update(MESSAGES).where(MESSAGES.c.id == bindparam("message_id")).values(error_code=bindparam("code"))
RECENT_MESSAGES = (  # what decides which turns are resent: no Message objects, no identity map
    select(MESSAGES.c.id, MESSAGES.c.role, MESSAGES.c.content, MESSAGES.c.error_code, MESSAGES.c.interrupted)
    .where(MESSAGES.c.conversation_id == bindparam("conversation_id"))
    .order_by(MESSAGES.c.id.desc())
    .limit(bindparam("scan"))
    .subquery("recent")
)
# Its owner, state and how many questions it holds, and its newest `scan` messages, in one
# SELECT: a row per message, newest first (one row with no message when scan is 0 or it has
# none); no row when there is no such conversation. The count does not refer to the outer
# row, so PostgreSQL computes it once.
CONVERSATION_SUMMARY = (
    select(
        CONVERSATIONS.c.owner_key_id,
        CONVERSATIONS.c.state,
        select(func.count())
        .where(MESSAGES.c.conversation_id == bindparam("conversation_id"), MESSAGES.c.role == "user")
        .scalar_subquery()
        .label("questions"),
        *RECENT_MESSAGES.c,
    )
    .select_from(CONVERSATIONS.outerjoin(RECENT_MESSAGES, true()))
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .order_by(RECENT_MESSAGES.c.id.desc())
)


def message_row(role: str, content: str, **fields: object) -> dict[str, object]:
    """Return a message's row for `ConversationStore.append`: every column, so each INSERT is the same statement."""
    row: dict[str, object] = dict.fromkeys(OPTIONAL_MESSAGE_COLUMNS)
    row.update(fields, role=role, content=content)
    row["interrupted"] = bool(row["interrupted"])
    return row


def new_conversation_row(conversation_id: str, owner_key_id: str | None, now: datetime) -> dict[str, object]:
    """Return a new conversation's row."""
    return {"id": conversation_id, "owner_key_id": owner_key_id, "created_at": now, "last_message_at": now}


@functools.cache
def compiled_sql(statement: Executable, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Return a statement's SQL for the driver, compiled once, and the values it fixes (its literals).

    For the hot path's statements on PostgreSQL, run on psycopg's cursor. Their timestamps
    are passed as they are (`utcnow()`: aware, in UTC), as UTCDateTime would pass them.
    """
    compiled = statement.compile(dialect=dialect)
    return compiled.string, {name: value for name, value in compiled.params.items() if value is not None}


@functools.cache
def append_statement(new: bool, count: int) -> Insert:
    """Return PostgreSQL's one statement for `append`: the conversation's INSERT or UPDATE, then `count` messages.

    Its parameters: cid, owner_key_id and state (new only), now, and each message's columns
    prefixed m0_, m1_, …
    """
    if new:
        conversation = insert(CONVERSATIONS).values(
            id=bindparam("cid"), owner_key_id=bindparam("owner_key_id"),
            created_at=bindparam("now"), last_message_at=bindparam("now"), state=bindparam("state"),
        )
    else:
        conversation = (
            update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("cid")).values(last_message_at=bindparam("now"))
        )
    rows = [
        {
            "conversation_id": bindparam("cid"), "created_at": bindparam("now"),
            **{column: bindparam(f"m{number}_{column}") for column in ("role", "content", *OPTIONAL_MESSAGE_COLUMNS)},
        }
        for number in range(count)
    ]
    return insert(MESSAGES).values(rows).add_cte(conversation.cte("conversation")).returning(MESSAGES.c.id)


@dataclass(frozen=True)
class ConversationSummary:
    """What decides whether a question may join a conversation (its owner, length, state), and its newest turns."""

    owner_key_id: str | None
    questions: int
    state: str = "bot"  # who answers: bot, waiting, agent or closed
    turns: list[tuple[Any, Any]] = field(default_factory=list)  # as `ConversationStore.summary` describes


@dataclass(frozen=True)
class MessageWindow:
    """Which page of a conversation to read: up to `limit` messages, newer than `after` or older than `before`."""

    limit: int = 100
    before: int | None = None
    after: int | None = None


@dataclass(frozen=True)
class MessagePage:
    """A page of messages, oldest first, and whether more lie beyond it (older, or newer with `after`)."""

    messages: list[Message]
    has_more: bool


MessageLike = TypeVar("MessageLike")  # a Message, or a row with its role, content, error_code and interrupted


class ConversationStore:
    """Keep conversations and their messages; every write is committed at once.

    Nothing is read back after a commit: the session expires what it committed, so reading
    an attribute then would cost a SELECT and begin a new transaction, which keeps a pooled
    connection checked out until the request ends (through a whole DeepSeek call).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._autocommit_engines: tuple[Engine, Engine] | None = None  # the session's engine, and in autocommit

    def create(self, owner_key_id: str | None = None) -> str:
        """Start a conversation and return its id, a random UUID4."""
        conversation_id = str(uuid.uuid4())
        with self._autocommit().connect() as connection:
            connection.execute(NEW_CONVERSATION, new_conversation_row(conversation_id, owner_key_id, utcnow()))
        return conversation_id

    def start(self, first_message: str, owner_key_id: str | None = None) -> tuple[str, int]:
        """Start a conversation with its first (user) message, in one transaction; return both ids."""
        conversation_id, [message_id] = self.append(None, [message_row("user", first_message)], owner_key_id)
        return conversation_id, message_id

    def append(
        self, conversation_id: str | None, messages: Sequence[dict[str, object]], owner_key_id: str | None = None
    ) -> tuple[str, list[int]]:
        """Store messages (rows from `message_row`) and mark their conversation active, committed together.

        Without a conversation id, a new conversation (owned by `owner_key_id`) is started
        with them. Returns the conversation's id and the messages' ids, in order. On
        PostgreSQL this is one statement in autocommit (one round trip: the conversation's
        INSERT or UPDATE in a CTE, the messages in one multi-row INSERT, whose rows take their
        ids in order); on SQLite, which has no data-modifying CTE, one short transaction.
        """
        now = utcnow()
        new = conversation_id is None
        conversation_id = str(uuid.uuid4()) if conversation_id is None else conversation_id
        engine = self.session.get_bind()
        if engine.dialect.name == "postgresql":
            # Only the statement's own parameters: an UPDATE also sets any column named by an extra one.
            parameters: dict[str, object] = {"cid": conversation_id, "now": now}
            if new:
                parameters.update(owner_key_id=owner_key_id, state="bot")  # the bot answers a new conversation
            for number, row in enumerate(messages):
                parameters.update({f"m{number}_{column}": value for column, value in row.items()})
            ids = [row.id for row in self._postgresql(append_statement(new, len(messages)), parameters)]
            return conversation_id, sorted(ids)
        with engine.begin() as connection:
            if new:
                connection.execute(NEW_CONVERSATION, new_conversation_row(conversation_id, owner_key_id, now))
            else:
                connection.execute(TOUCH_CONVERSATION, {"conversation_id": conversation_id, "last_message_at": now})
            rows = [{**row, "conversation_id": conversation_id, "created_at": now} for row in messages]
            return conversation_id, [int(connection.execute(NEW_MESSAGE, row).scalar_one()) for row in rows]

    def _postgresql(self, statement: Executable, parameters: dict[str, Any]) -> list[Any]:
        """Run one statement on PostgreSQL in autocommit (one round trip) and return its rows, as named tuples.

        On psycopg's cursor, below SQLAlchemy's Connection: its set-up per statement (the
        execution context, the isolation level set and reset) cost ~55 µs, five times the
        statement's own client CPU (~11 µs, measured). A pooled connection is borrowed and
        given back as the pool lent it (not in autocommit); a broken one is discarded.
        """
        engine = self.session.get_bind()
        sql, fixed = compiled_sql(statement, engine.dialect)
        pooled = engine.raw_connection()
        connection = pooled.driver_connection
        try:
            connection.autocommit = True
            with connection.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(sql, {**fixed, **parameters})
                return cursor.fetchall() if cursor.description else []
        finally:
            if connection.broken or connection.closed:
                pooled.invalidate()
            else:
                connection.autocommit = False
            pooled.close()

    def _rows(self, statement: Executable, parameters: dict[str, Any]) -> Sequence[Any]:
        """Run one statement in autocommit and return its rows (on PostgreSQL through `_postgresql`)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return self._postgresql(statement, parameters)
        with self._autocommit().connect() as connection:
            result = connection.execute(statement, parameters)
            return result.all() if result.returns_rows else []

    def _autocommit(self) -> Engine:
        """The session's engine in autocommit: one statement is one transaction, no BEGIN and COMMIT round trips.

        A turn's statements run on a pooled connection of their own, returned at once, outside
        the ORM session (whose unit of work and commit cost more than the statements).
        """
        engine = self.session.get_bind()
        if self._autocommit_engines is None or self._autocommit_engines[0] is not engine:
            self._autocommit_engines = engine, engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._autocommit_engines[1]

    def get(self, conversation_id: str) -> Conversation | None:
        """Return the conversation, or None when there is none with that id."""
        return self.session.get(Conversation, conversation_id)

    def summary(self, conversation_id: str, max_messages: int = 0) -> ConversationSummary | None:
        """Return a conversation's owner, state and question count; None when there is no such conversation.

        With `max_messages`, its newest complete turns too (a question and its full answer),
        at most that many messages, oldest first, read in the same SELECT. Failed turns and
        answers cut short are left out, so what is sent back to the model always alternates
        question, answer. The turns are rows with the message's id, role, content,
        error_code and interrupted.
        """
        scan = max_messages * 4 if max_messages >= 2 else 0  # room for failed turns between the complete ones
        rows = self._rows(CONVERSATION_SUMMARY, {"conversation_id": conversation_id, "scan": scan})
        if not rows:
            return None
        turns = complete_turns([row for row in reversed(rows) if row.id is not None])
        found = rows[0]
        return ConversationSummary(
            found.owner_key_id, int(found.questions), found.state, turns[-(max_messages // 2):] if scan else []
        )

    def add_message(self, conversation_id: str, role: str, content: str, **fields: object) -> int:
        """Store a message and mark its conversation active, committed together; return its id."""
        return self.append(conversation_id, [message_row(role, content, **fields)])[1][0]

    def mark_failed(self, message_id: int, error_code: str) -> None:
        """Record that the answer to a user message failed, and why."""
        self._rows(MARK_FAILED, {"message_id": message_id, "code": error_code})

    def messages(self, conversation_id: str) -> list[Message]:
        """Return every message of a conversation, oldest first."""
        query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        return list(self.session.scalars(query))

    def page(self, conversation_id: str, window: MessageWindow) -> MessagePage:
        """Return one page of a conversation's messages, oldest first, and whether more lie beyond it.

        With `after`, the oldest messages newer than it (and older than `before`, if given;
        more lie newer); otherwise the newest messages older than `before` (more lie older).
        """
        query = select(Message).where(Message.conversation_id == conversation_id).limit(window.limit + 1)
        if window.before is not None:
            query = query.where(Message.id < window.before)
        if window.after is not None:
            query = query.where(Message.id > window.after).order_by(Message.id)
        else:
            query = query.order_by(Message.id.desc())
        found = list(self.session.scalars(query))
        messages = found[: window.limit]
        return MessagePage(messages if window.after is not None else messages[::-1], len(found) > window.limit)

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


def complete_turns(messages: Sequence[MessageLike]) -> list[tuple[MessageLike, MessageLike]]:
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
