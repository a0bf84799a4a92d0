"""The support team's queries: counts per UTC day (SQL aggregates), what went wrong, and the export in batches.

Every period is [start, end): UTC instants, the caller turns dates into them. Counting
happens in the database (GROUP BY day); nothing here loads a period's rows to count them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, and_, case, cast, exists, func, null, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from app.storage.models import Conversation, Message, MessageFeedback

CONVERSATIONS = Conversation.__table__
MESSAGES = Message.__table__
FEEDBACK = MessageFeedback.__table__
BOT_SOURCES = ("faq", "llm", "faq_fallback")  # answers the bot gave by itself (a handoff answer is not one)
EXPORT_BATCH = 100  # conversations read per query while exporting


class utc_day(FunctionElement):  # noqa: N801  (an SQL function, named as one)
    """The UTC date of a stored timestamp as 'YYYY-MM-DD', on SQLite and PostgreSQL alike."""

    type = String()
    inherit_cache = True


@compiles(utc_day)
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # SQLite keeps UTC text (UTCDateTime converts)


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@dataclass(frozen=True)
class Period:
    """UTC instants: from `start` (included) to `end` (excluded)."""

    start: datetime
    end: datetime


def within(column: Any, period: Period) -> ColumnElement[bool]:
    """Return the condition that a timestamp column lies in the period."""
    return and_(column >= period.start, column < period.end)


def question_before(answer: Any) -> Any:
    """Return the id of the last customer message before a message of the same conversation (a scalar subquery)."""
    earlier = aliased(MESSAGES)
    return (
        select(func.max(earlier.c.id))
        .where(earlier.c.conversation_id == answer.c.conversation_id, earlier.c.role == "user", earlier.c.id < answer.c.id)
        .scalar_subquery()
    )


class AnalyticsStore:
    """Read what the support team needs from conversations, messages and feedback; never writes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _rows(self, query: Any) -> list[Row]:
        return list(self.session.connection().execute(query))

    def conversations_by_day(self, period: Period) -> list[Row]:
        """Per day: conversations started, and those deflected (a bot answer, no handoff ever)."""
        bot_answer = exists().where(
            MESSAGES.c.conversation_id == CONVERSATIONS.c.id,
            MESSAGES.c.role == "assistant",
            MESSAGES.c.source.in_(BOT_SOURCES),
            MESSAGES.c.interrupted.is_(False),
        )
        handoff = exists().where(
            MESSAGES.c.conversation_id == CONVERSATIONS.c.id,
            ((MESSAGES.c.role == "event") & (MESSAGES.c.event == "handoff")) | (MESSAGES.c.source == "handoff"),
        )
        day = utc_day(CONVERSATIONS.c.created_at)
        query = (
            select(
                day.label("day"),
                func.count().label("conversations"),
                func.sum(case((and_(bot_answer, ~handoff), 1), else_=0)).label("deflected"),
            )
            .where(within(CONVERSATIONS.c.created_at, period))
            .group_by(day)
        )
        return self._rows(query)

    def messages_by_day(self, period: Period) -> list[Row]:
        """Per day and kind of message (role, source, event, trigger, interrupted): counts, failures and tokens."""
        day = utc_day(MESSAGES.c.created_at)
        kind = (MESSAGES.c.role, MESSAGES.c.source, MESSAGES.c.event, MESSAGES.c.trigger, MESSAGES.c.interrupted)
        query = (
            select(
                day.label("day"),
                *kind,
                func.count().label("messages"),
                func.count(MESSAGES.c.error_code).label("failed"),
                func.coalesce(func.sum(MESSAGES.c.prompt_tokens), 0).label("prompt_tokens"),
                func.coalesce(func.sum(MESSAGES.c.completion_tokens), 0).label("completion_tokens"),
                func.coalesce(func.sum(MESSAGES.c.cache_hit_tokens), 0).label("cache_hit_tokens"),
            )
            .where(within(MESSAGES.c.created_at, period))
            .group_by(day, *kind)
        )
        return self._rows(query)

    def feedback_by_day(self, period: Period) -> list[Row]:
        """Per day (of the rating, or of its last change) and rating: how many."""
        day = utc_day(FEEDBACK.c.updated_at)
        query = (
            select(day.label("day"), FEEDBACK.c.rating, func.count().label("ratings"))
            .where(within(FEEDBACK.c.updated_at, period))
            .group_by(day, FEEDBACK.c.rating)
        )
        return self._rows(query)

    def questions(self, kind: str, period: Period, limit: int) -> list[Row]:
        """Return the newest `limit` customer questions of the period of a kind, each with the answer that makes it so.

        Kinds: `down` (an answer rated down), `handoff` (answered by a handoff, or followed
        by a handoff event), `fallback` (answered by `faq_fallback`), `failed` (no answer:
        the question has an error code). A question appears once per answer of its kind.
        """
        pairs = self._kind_pairs(kind, period)
        question, answer = aliased(MESSAGES), aliased(MESSAGES)
        query = (
            select(
                question.c.id.label("message_id"),
                question.c.conversation_id,
                question.c.content.label("question"),
                question.c.created_at,
                question.c.error_code,
                answer.c.id.label("answer_message_id"),
                answer.c.content.label("answer"),
                answer.c.source,
                answer.c.role.label("answer_role"),
                FEEDBACK.c.rating,
                FEEDBACK.c.comment,
            )
            .select_from(pairs)
            .join(question, question.c.id == pairs.c.question_id)
            .outerjoin(answer, answer.c.id == pairs.c.answer_id)
            .outerjoin(FEEDBACK, FEEDBACK.c.message_id == pairs.c.answer_id)
            .where(within(question.c.created_at, period))
            .order_by(question.c.id.desc(), answer.c.id)
            .limit(limit)
        )
        return self._rows(query)

    def _kind_pairs(self, kind: str, period: Period) -> Any:
        """Return (question_id, answer_id) pairs of a kind, as a subquery; rows older than the period left out."""
        answer = aliased(MESSAGES)
        after_start = answer.c.created_at >= period.start  # an answer comes after its question
        if kind == "failed":
            return (
                select(answer.c.id.label("question_id"), cast(null(), Integer).label("answer_id"))
                .where(answer.c.role == "user", answer.c.error_code.is_not(None), after_start)
                .subquery()
            )
        if kind == "down":
            rated = select(question_before(answer).label("question_id"), answer.c.id.label("answer_id")).join(
                FEEDBACK, (FEEDBACK.c.message_id == answer.c.id) & (FEEDBACK.c.rating == "down")
            )
            return rated.where(after_start).subquery()
        if kind == "fallback":
            return (
                select(question_before(answer).label("question_id"), answer.c.id.label("answer_id"))
                .where(answer.c.source == "faq_fallback", after_start)
                .subquery()
            )
        # handoff: a handoff answer, or a handoff event (whose "answer" is the event, shown as it is)
        answered = select(question_before(answer).label("question_id"), answer.c.id.label("answer_id")).where(
            answer.c.role == "assistant", answer.c.source == "handoff", after_start
        )
        event = aliased(MESSAGES)
        handed_off = select(question_before(event).label("question_id"), cast(null(), Integer).label("answer_id")).where(
            event.c.role == "event", event.c.event == "handoff", event.c.created_at >= period.start
        )
        return union_all(answered, handed_off).subquery()

    def conversation_batches(self, period: Period) -> Iterator[list[Row]]:
        """Yield the period's conversations, oldest first, a batch at a time (each batch one short query)."""
        after: tuple[datetime, str] | None = None
        while True:
            query = (
                select(CONVERSATIONS.c.id, CONVERSATIONS.c.created_at, CONVERSATIONS.c.state, CONVERSATIONS.c.owner_key_id)
                .where(within(CONVERSATIONS.c.created_at, period))
                .order_by(CONVERSATIONS.c.created_at, CONVERSATIONS.c.id)
                .limit(EXPORT_BATCH)
            )
            if after is not None:
                query = query.where(
                    (CONVERSATIONS.c.created_at > after[0])
                    | ((CONVERSATIONS.c.created_at == after[0]) & (CONVERSATIONS.c.id > after[1]))
                )
            batch = self._rows(query)
            self.session.rollback()  # no transaction stays open while the batch is written out
            if not batch:
                return
            yield batch
            after = (batch[-1].created_at, batch[-1].id)

    def messages_of(self, conversation_ids: list[str]) -> list[Row]:
        """Return every message of those conversations with its rating, by conversation, oldest first."""
        query = (
            select(MESSAGES, FEEDBACK.c.rating, FEEDBACK.c.comment.label("rating_comment"))
            .outerjoin(FEEDBACK, FEEDBACK.c.message_id == MESSAGES.c.id)
            .where(MESSAGES.c.conversation_id.in_(conversation_ids))
            .order_by(MESSAGES.c.conversation_id, MESSAGES.c.id)
        )
        rows = self._rows(query)
        self.session.rollback()
        return rows
