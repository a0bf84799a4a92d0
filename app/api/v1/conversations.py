"""GET and DELETE /api/v1/conversations/<id>: read back a conversation, or erase it."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify

from app.api.v1.owners import requesting_key_id
from app.services import chatbot_service

conversations_bp = Blueprint("conversations", __name__)


def iso(moment: datetime) -> str:
    """Format a stored timestamp as ISO-8601 UTC with its offset."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@conversations_bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> Response:
    """Return a conversation with all its messages, oldest first."""
    conversation, messages = chatbot_service().transcript(conversation_id, requesting_key_id())
    return jsonify(
        conversation_id=conversation.id,
        created_at=iso(conversation.created_at),
        messages=[
            {
                "role": message.role,
                "content": message.content,
                "source": message.source,
                "created_at": iso(message.created_at),
                "error_code": message.error_code,
                "interrupted": message.interrupted,
            }
            for message in messages
        ],
    )


@conversations_bp.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str) -> Response:
    """Erase a conversation and every message in it (a privacy request)."""
    chatbot_service().forget(conversation_id, requesting_key_id())
    return Response(status=204)
