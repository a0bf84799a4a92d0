"""The support team's side of a handoff: the queue, its live events, and a conversation claimed, answered, let go.

GET /queue and /events (SSE); GET /conversations/<id> (the whole transcript, with each
change's trigger and reason); POST /conversations/<id>/claim, /messages, /release and
/close. Agents and admins alike; an admin may also close a conversation another holds.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify

from app.api import sse
from app.api.live import staff_events
from app.api.staff import staff_bp
from app.api.v1.conversations import message_id_argument, message_json
from app.api.v1.schemas import read_json_object, read_optional_body, text_field
from app.errors import ConversationNotFound
from app.security.staff_auth import staff_required
from app.services import handoff_service
from app.services.chatbot_service import is_conversation_id
from app.utils.timestamps import iso

LONGEST_NOTE = 2000


@staff_bp.get("/queue")
@staff_required("agent")
def queue() -> Response:
    """List the conversations waiting for a person (oldest first) and those the caller holds."""
    waiting, mine = handoff_service().queue(g.staff)
    return jsonify(waiting=[queue_entry(item) for item in waiting], mine=[queue_entry(item) for item in mine])


@staff_bp.get("/events")
@staff_required("agent")
def events() -> Response:
    """Stream `queue` events (refetch the queue) and customers' messages in the caller's conversations."""
    handoff_service().release_connection()  # the stream may wait for hours: hold no connection
    return sse.event_stream(staff_events(g.staff, current_app.config["STREAM_HEARTBEAT_SECONDS"]))


@staff_bp.get("/conversations/<conversation_id>")
@staff_required("agent")
def conversation(conversation_id: str) -> Response:
    """Return a conversation's whole transcript (or its messages after ?after=), with states, triggers, reasons."""
    after = message_id_argument("after") or 0
    view = handoff_service().staff_view(existing(conversation_id), after)
    state = view.state
    return jsonify(
        conversation_id=state.id,
        state=state.state,
        agent=state.agent,
        waiting_since=iso(state.waiting_since),
        trigger=view.trigger,
        reason=view.reason,
        messages=[message_json(message, view.feedback, staff=True) for message in view.messages],
    )


@staff_bp.post("/conversations/<conversation_id>/claim")
@staff_required("agent")
def claim(conversation_id: str) -> Response:
    """Take a waiting conversation: exactly one agent wins; the others get 409 ALREADY_CLAIMED."""
    state = handoff_service().claim(existing(conversation_id), g.staff)
    return jsonify(conversation_id=state.id, state=state.state, agent=state.agent)


@staff_bp.post("/conversations/<conversation_id>/messages")
@staff_required("agent")
def reply(conversation_id: str) -> tuple[Response, int]:
    """Write to the customer in a conversation the caller holds (409 NOT_ASSIGNED otherwise)."""
    content = text_field(read_json_object(), "content", current_app.config["MAX_MESSAGE_CHARS"], required=True)
    message_id, content, created_at = handoff_service().reply(existing(conversation_id), g.staff, content or "")
    return jsonify(message_id=message_id, role="agent", author=g.staff.name, content=content,
                   created_at=iso(created_at)), 201


@staff_bp.post("/conversations/<conversation_id>/release")
@staff_required("agent")
def release(conversation_id: str) -> Response:
    """Give a conversation the caller holds back to the queue, in its place."""
    handoff_service().release(existing(conversation_id), g.staff)
    return jsonify(conversation_id=conversation_id, state="waiting")


@staff_bp.post("/conversations/<conversation_id>/close")
@staff_required("agent")
def close(conversation_id: str) -> Response:
    """Close a conversation the caller holds (an admin: any waiting or held one); the note is for staff only."""
    note = text_field(read_optional_body(), "note", LONGEST_NOTE)
    handoff_service().close(existing(conversation_id), g.staff, note)
    return jsonify(conversation_id=conversation_id, state="closed")


def existing(conversation_id: str) -> str:
    """Return the id from the address; one we never issue is ConversationNotFound at once."""
    if not is_conversation_id(conversation_id):
        raise ConversationNotFound()
    return conversation_id


def queue_entry(item: dict[str, Any]) -> dict[str, Any]:
    """Write a queue entry with its timestamp in ISO-8601."""
    return {**item, "waiting_since": iso(item["waiting_since"])}
