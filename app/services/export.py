"""The export of a period's conversations, written a batch of conversations at a time, never all in memory.

JSON Lines: one conversation per line, with its messages (sources, ratings, handoff events,
tokens). CSV: one row per message. A conversation is in the period when it started in it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from itertools import groupby
from typing import Any

from app.services.analytics import period_of
from app.storage.analytics import AnalyticsStore
from app.utils.timestamps import iso

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "conversation_id", "conversation_created_at", "message_id", "created_at", "role", "source", "author", "event",
    "state", "trigger", "detail", "content", "error_code", "interrupted", "model", "faq_id", "faq_score",
    "prompt_tokens", "completion_tokens", "cache_hit_tokens", "rating", "rating_comment",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run a cell starting so as a formula


class ConversationExport:
    """Write every conversation of a period as JSON Lines or CSV, batch by batch."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store

    def conversations(self, first_day: date, last_day: date) -> Iterator[tuple[Any, list[Any]]]:
        """Yield each conversation of the period, oldest first, with its messages (and their ratings)."""
        for batch in self.store.conversation_batches(period_of(first_day, last_day)):
            by_conversation = {
                conversation_id: list(rows)
                for conversation_id, rows in groupby(
                    self.store.messages_of([c.id for c in batch]), key=lambda row: row.conversation_id
                )
            }
            for conversation in batch:
                yield conversation, by_conversation.get(conversation.id, [])

    def jsonl(self, first_day: date, last_day: date) -> Iterator[str]:
        """Yield one JSON line per conversation."""
        for conversation, messages in self.conversations(first_day, last_day):
            yield json.dumps(conversation_json(conversation, messages), ensure_ascii=False) + "\n"

    def csv(self, first_day: date, last_day: date) -> Iterator[str]:
        """Yield a header line, then one CSV row per message."""
        yield csv_line(CSV_COLUMNS)
        for conversation, messages in self.conversations(first_day, last_day):
            for message in messages:
                yield csv_line(csv_row(conversation, message))


def conversation_json(conversation: Any, messages: list[Any]) -> dict[str, Any]:
    """Write a conversation with its messages, its handoffs, its ratings and its tokens."""
    written = [message_json(message) for message in messages]
    return {
        "conversation_id": conversation.id,
        "created_at": iso(conversation.created_at),
        "state": conversation.state,
        "messages": written,
        "handoffs": [
            {"message_id": m["message_id"], "trigger": m["trigger"], "created_at": m["created_at"]}
            for m in written if m["role"] == "event" and m["event"] == "handoff"
        ],
        "feedback": {rating: sum(1 for m in messages if m.rating == rating) for rating in ("up", "down")},
        "tokens": {kind: sum(m["tokens"][kind] for m in written) for kind in ("prompt", "completion", "cache_hit")},
    }


def message_json(message: Any) -> dict[str, Any]:
    """Write one message as the export shows it (staff see the event details too)."""
    return {
        "message_id": message.id,
        "role": message.role,
        "content": message.content,
        "source": message.source,
        "created_at": iso(message.created_at),
        "author": message.author,
        "event": message.event,
        "state": message.state,
        "trigger": message.trigger,
        "detail": message.detail,
        "error_code": message.error_code,
        "interrupted": bool(message.interrupted),
        "model": message.model,
        "faq_id": message.faq_id,
        "faq_score": message.faq_score,
        "tokens": {
            "prompt": message.prompt_tokens or 0,
            "completion": message.completion_tokens or 0,
            "cache_hit": message.cache_hit_tokens or 0,
        },
        "feedback": {"rating": message.rating, "comment": message.rating_comment} if message.rating else None,
    }


def csv_row(conversation: Any, message: Any) -> list[Any]:
    """Return one message's CSV cells, in CSV_COLUMNS' order."""
    fields = {column: getattr(message, column, None) for column in CSV_COLUMNS}
    fields.update(
        conversation_created_at=iso(conversation.created_at), message_id=message.id, created_at=iso(message.created_at),
        interrupted=bool(message.interrupted),
    )
    return [fields[column] for column in CSV_COLUMNS]


def csv_line(cells: Any) -> str:
    """Write one CSV line; text a spreadsheet would take for a formula gets a leading apostrophe."""
    out = io.StringIO()
    csv.writer(out).writerow(
        ["'" + cell if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell for cell in cells]
    )
    return out.getvalue()
