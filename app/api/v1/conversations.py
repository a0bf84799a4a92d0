"""GET and DELETE /api/v1/conversations/<id>: read back a conversation, page by page, or erase it.

Also the customer's side of a handoff: POST .../handoff (the "Talk to a person" button)
and GET .../events (a live stream of agents' messages and changes of state).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from app.api import sse
from app.api.live import conversation_events
from app.api.v1.owners import requesting_key_id
from app.api.v1.schemas import WHOLE_NUMBER, number_argument, read_optional_body, text_field
from app.services import chatbot_service, handoff_service
from app.storage.conversations import MessageWindow
from app.storage.models import LARGEST_ROW_ID
from app.utils.timestamps import iso

conversations_bp = Blueprint("conversations", __name__)

DEFAULT_PAGE, LARGEST_PAGE = 100, 500
LARGEST_MESSAGE_ID = LARGEST_ROW_ID
LONGEST_REASON = 1000


@conversations_bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> Response:
    """Return a page of a conversation's messages, oldest first: the newest, or those before or after a message."""
    window = read_window()
    conversation, page = chatbot_service().transcript(conversation_id, requesting_key_id(), window)
    handoff = handoff_service()
    state = handoff.state(conversation.id)
    feedback = handoff.feedback(page.messages)
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
        state=state.state,
        agent=state.agent,
        messages=[message_json(message, feedback) for message in page.messages],
        has_more=page.has_more,
        next=next_page,
    )


def message_json(message: Any, feedback: dict[int, dict[str, Any]], *, staff: bool = False) -> dict[str, Any]:
    """Write a message as a transcript shows it; staff also see a change's trigger and detail (reason, note)."""
    item = {
        "message_id": message.id,
        "role": message.role,
        "content": message.content,
        "source": message.source,
        "created_at": iso(message.created_at),
        "error_code": message.error_code,
        "interrupted": message.interrupted,
        "author": message.author,
        "event": message.event,
        "state": message.state,
        "feedback": feedback.get(message.id),  # only messages a customer may rate have one
    }
    if staff:
        item.update(trigger=message.trigger, detail=message.detail)
    return item


@conversations_bp.post("/conversations/<conversation_id>/handoff")
def request_handoff(conversation_id: str) -> Response:
    """Hand the conversation to a person (the "Talk to a person" button); asking again changes nothing."""
    reason = text_field(read_optional_body(), "reason", LONGEST_REASON)
    conversation = chatbot_service().conversation(conversation_id, requesting_key_id())
    reply = handoff_service().request(conversation.id, "customer_button", reason)
    return jsonify(conversation_id=conversation.id, state=reply.state, message_id=reply.message_id,
                   content=reply.content)


@conversations_bp.get("/conversations/<conversation_id>/events")
def stream_conversation_events(conversation_id: str) -> Response:
    """Stream agents' messages and changes of state after the client's last message (Last-Event-ID or ?after=)."""
    after = last_event_id()
    if after is None:
        after = message_id_argument("after")
    conversation = chatbot_service().conversation(conversation_id, requesting_key_id())
    heartbeat = current_app.config["STREAM_HEARTBEAT_SECONDS"]
    return sse.event_stream(conversation_events(conversation.id, after, heartbeat))


def last_event_id() -> int | None:
    """Return the Last-Event-ID a reconnecting EventSource sends, when it is a message_id; else None."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if WHOLE_NUMBER.fullmatch(raw) and int(raw) <= LARGEST_MESSAGE_ID else None


@conversations_bp.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str) -> Response:
    """Erase a conversation and every message in it (a privacy request)."""
    chatbot_service().forget(conversation_id, requesting_key_id())
    return Response(status=204)


def read_window() -> MessageWindow:
    """Read the page asked for from ?limit= (1 to 500), ?before= and ?after= (message ids)."""
    return MessageWindow(
        limit=number_argument("limit", 1, LARGEST_PAGE, DEFAULT_PAGE),
        before=message_id_argument("before"),
        after=message_id_argument("after"),
    )


def message_id_argument(name: str) -> int | None:
    """Return a query argument that must be a message_id (a cursor); None when it is absent."""
    return number_argument(name, 0, LARGEST_MESSAGE_ID, meaning="a message_id (a whole number)")
