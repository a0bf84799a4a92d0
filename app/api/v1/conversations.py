"""GET and DELETE /api/v1/conversations/<id>: read back a conversation, page by page, or erase it."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify, request, url_for

from app.api.v1.owners import requesting_key_id
from app.errors import InvalidRequest
from app.services import chatbot_service
from app.storage.conversations import MessageWindow

conversations_bp = Blueprint("conversations", __name__)

DEFAULT_PAGE, LARGEST_PAGE = 100, 500
LARGEST_MESSAGE_ID = 2**31 - 1  # message ids are 32-bit integers (INTEGER in PostgreSQL)
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")


def iso(moment: datetime) -> str:
    """Format a stored timestamp as ISO-8601 UTC with its offset."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@conversations_bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> Response:
    """Return a page of a conversation's messages, oldest first: the newest, or those before or after a message."""
    window = read_window()
    conversation, page = chatbot_service().transcript(conversation_id, requesting_key_id(), window)
    next_page = None
    if page.has_more:
        if window.after is not None:  # reading forwards: from the last message, up to the same `before`
            cursor = {"after": page.messages[-1].id, "before": window.before}
        else:
            cursor = {"before": page.messages[0].id}
        next_page = url_for(".get_conversation", conversation_id=conversation.id, **cursor, limit=window.limit)
    return jsonify(
        conversation_id=conversation.id,
        created_at=iso(conversation.created_at),
        messages=[
            {
                "message_id": message.id,
                "role": message.role,
                "content": message.content,
                "source": message.source,
                "created_at": iso(message.created_at),
                "error_code": message.error_code,
                "interrupted": message.interrupted,
            }
            for message in page.messages
        ],
        has_more=page.has_more,
        next=next_page,
    )


@conversations_bp.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str) -> Response:
    """Erase a conversation and every message in it (a privacy request)."""
    chatbot_service().forget(conversation_id, requesting_key_id())
    return Response(status=204)


def read_window() -> MessageWindow:
    """Read the page asked for from ?limit= (1 to 500), ?before= and ?after= (message ids)."""
    return MessageWindow(
        limit=whole_number_argument("limit", 1, LARGEST_PAGE, DEFAULT_PAGE),
        before=whole_number_argument("before", 0, LARGEST_MESSAGE_ID),
        after=whole_number_argument("after", 0, LARGEST_MESSAGE_ID),
    )


def whole_number_argument(name: str, lowest: int, highest: int, default: int | None = None) -> int | None:
    """Return a query argument that must be a whole number in [lowest, highest]; the default when it is absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (_WHOLE_NUMBER.fullmatch(raw) and lowest <= int(raw) <= highest):
        if name == "limit":
            raise InvalidRequest(f'"limit" must be a whole number from {lowest} to {highest}.')
        raise InvalidRequest(f'"{name}" must be a message_id (a whole number).')
    return int(raw)
