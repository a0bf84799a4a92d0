"""POST /api/v1/chat: one customer question in, one answer out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import Response, current_app, g, jsonify

from app.api.v1 import v1_bp
from app.api.v1.schemas import read_chat_request
from app.services.chatbot_service import Answer, ChatbotService


def chatbot() -> ChatbotService:
    """Return this app's chat service."""
    return current_app.extensions["chatbot"]


def response_metadata(model: str | None, error_code: str | None) -> dict[str, Any]:
    """Build the metadata every chat answer carries, and add it to the request's log line."""
    config = current_app.config
    metadata = {
        "response_id": str(uuid.uuid4()),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "processing_time": round(time.perf_counter() - g.request_started, 4),
        "model": model,
        "assistant_version": config["ASSISTANT_VERSION"],
        "support_contact": config["SUPPORT_CONTACT"],
        "error_code": error_code,
    }
    structlog.contextvars.bind_contextvars(
        response_id=metadata["response_id"],
        model=model,
        processing_time=metadata["processing_time"],
        error_code=error_code,
    )
    return metadata


def chat_error_extras(code: str, message: str) -> dict[str, Any]:
    """Give a failed chat the fields a chat frontend shows: the message as content, and metadata."""
    return {"content": message, "metadata": response_metadata(model=None, error_code=code)}


def with_chat_error_extras(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose error bodies carry "content" and "metadata" too."""
    view.error_extras = chat_error_extras  # type: ignore[attr-defined]
    return view


def answer_body(answer: Answer) -> dict[str, Any]:
    """Shape an answer as the API returns it."""
    structlog.contextvars.bind_contextvars(source=answer.source)
    return {
        "content": answer.content,
        "source": answer.source,
        "metadata": response_metadata(model=answer.model, error_code=None),
    }


@v1_bp.post("/chat")
@with_chat_error_extras
def chat() -> Response:
    """Answer a customer's question from the FAQ, or from DeepSeek when the FAQ does not know it."""
    request_body = read_chat_request(current_app.config["MAX_MESSAGE_CHARS"])
    return jsonify(answer_body(chatbot().answer(request_body.message)))
