"""POST /api/v1/chat and /api/v1/chat/stream: a customer's question in, the answer out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import Response, current_app, g, jsonify, stream_with_context

from app.api.v1 import v1_bp
from app.api.v1.schemas import read_chat_request
from app.errors import APIError
from app.services.chatbot_service import Answer, AnswerStream, ChatbotService, Turn
from app.utils.privacy import mask_personal_data

log = structlog.get_logger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def chatbot() -> ChatbotService:
    """Return this app's chat service."""
    return current_app.extensions["chatbot"]


def processing_time() -> float:
    """Return the seconds spent on this request so far."""
    return round(time.perf_counter() - g.request_started, 4)


def response_metadata(model: str | None, error_code: str | None, response_id: str | None = None) -> dict[str, Any]:
    """Build the metadata every chat answer carries, and add it to the request's log line."""
    config = current_app.config
    metadata = {
        "response_id": response_id or str(uuid.uuid4()),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "processing_time": processing_time(),
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


def begin_turn() -> Turn:
    """Validate the request and store its question in its conversation."""
    question = read_chat_request(current_app.config["MAX_MESSAGE_CHARS"])
    turn = chatbot().begin(question.message, question.conversation_id)
    structlog.contextvars.bind_contextvars(conversation_id=turn.conversation_id)
    return turn


@v1_bp.post("/chat")
@with_chat_error_extras
def chat() -> Response:
    """Answer a customer's question, in a new or an existing conversation."""
    turn = begin_turn()
    answer = chatbot().answer(turn)
    structlog.contextvars.bind_contextvars(source=answer.source)
    log_exchange(turn.message, answer.content)
    return jsonify(
        content=answer.content,
        source=answer.source,
        conversation_id=turn.conversation_id,
        metadata=response_metadata(answer.model, None, turn.response_id),
    )


@v1_bp.post("/chat/stream")
@with_chat_error_extras
def chat_stream() -> Response:
    """Stream the answer to a customer's question as server-sent events while it is written."""
    stream = chatbot().stream(begin_turn())  # errors up to here are plain JSON errors
    return Response(stream_with_context(sse_events(stream)), mimetype="text/event-stream", headers=SSE_HEADERS)


def sse_events(stream: AnswerStream) -> Iterator[str]:
    """Write an answer stream as events: meta, delta..., then done or error; a comment while waiting."""
    turn = stream.turn
    yield sse("meta", {"conversation_id": turn.conversation_id, "response_id": turn.response_id})
    error: APIError | None = None
    try:
        for piece in stream:
            yield sse("delta", {"content": piece}) if piece is not None else ": waiting\n\n"
    except APIError as failure:
        error = failure
    except Exception:
        log.exception("unhandled_exception", during="chat_stream")
        error = APIError()
    finally:
        stream.close()  # after a client disconnect: cancel upstream, keep what was written
    if error is not None:
        yield sse("error", {"error": {"code": error.code, "message": error.message}})
        _log_stream_end(turn.response_id, None, None, error.code)
        return
    answer: Answer = stream.answer  # type: ignore[assignment]
    yield sse("done", {"source": answer.source, "metadata": response_metadata(answer.model, None, turn.response_id)})
    _log_stream_end(turn.response_id, answer.source, answer.model, None)
    log_exchange(turn.message, answer.content)


def log_exchange(question: str, answer: str) -> None:
    """Log the question and answer, masked, only when LOG_MESSAGES is on (message text is personal data)."""
    if current_app.config["LOG_MESSAGES"]:
        log.info("chat_exchange", question=mask_personal_data(question), answer=mask_personal_data(answer))


def sse(event: str, data: dict[str, Any]) -> str:
    """Format one server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _log_stream_end(response_id: str, source: str | None, model: str | None, error_code: str | None) -> None:
    """Log the end of a stream; the request line was written when its headers went out."""
    log.info(
        "chat_stream_finished",
        response_id=response_id,
        source=source,
        model=model,
        processing_time=processing_time(),
        error_code=error_code,
    )
