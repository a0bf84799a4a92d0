"""How a chat answer goes out: the metadata it carries, its event stream, and its log lines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import current_app, g

from app.api import sse
from app.errors import APIError, api_error_for
from app.services.chatbot_service import Answer, AnswerStream
from app.utils.privacy import mask_personal_data
from app.utils.timestamps import iso

log = structlog.get_logger(__name__)


def processing_time() -> float:
    """Return the seconds spent on this request so far."""
    return round(time.perf_counter() - g.request_started, 4)


def response_metadata(
    model: str | None, error_code: str | None, response_id: str | None = None, message_id: int | None = None
) -> dict[str, Any]:
    """Build the metadata every chat answer carries, and add it to the request's log line."""
    config = current_app.config
    metadata = {
        "response_id": response_id or str(uuid.uuid4()),
        "message_id": message_id,
        "timestamp": iso(datetime.now(timezone.utc)),
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


def with_chat_fields(error: APIError) -> APIError:
    """Add what a chat frontend shows to a failed chat's error: the message as content, and metadata."""
    error.extra.update(content=error.message, metadata=response_metadata(model=None, error_code=error.code))
    return error


def answer_events(stream: AnswerStream) -> Iterator[str]:
    """Write an answer stream as events: meta, delta..., then done or error; a comment while waiting."""
    turn = stream.turn
    yield sse.format_event(
        "meta", {"conversation_id": turn.conversation_id, "response_id": turn.response_id, "state": turn.state}
    )
    error: APIError | None = None
    try:
        for piece in stream:
            yield sse.format_event("delta", {"content": piece}) if piece is not None else sse.format_comment("waiting")
    except Exception as failure:  # the headers are gone: a failure can only be an event now
        error = api_error_for(failure)
    finally:
        stream.close()  # after a client disconnect: cancel upstream, keep what was written
    if error is not None:
        offer = {key: value for key, value in error.extra.items() if key == "handoff_available"}
        yield sse.format_event("error", {"error": {"code": error.code, "message": error.message}, **offer})
        log_stream_end(turn.response_id, None, None, error.code)
        return
    answer: Answer = stream.answer  # type: ignore[assignment]
    metadata = response_metadata(answer.model, None, turn.response_id, turn.answer_id)
    if answer.source == "handoff":
        yield sse.format_event(
            "handoff", {"state": turn.state, "content": answer.content, "message_id": turn.answer_id}
        )
    yield sse.format_event(
        "done", {"source": answer.source, "state": turn.state, "message_id": turn.answer_id, "metadata": metadata}
    )
    log_stream_end(turn.response_id, answer.source, answer.model, None)
    log_exchange(turn.message, answer.content)


def log_exchange(question: str, answer: str) -> None:
    """Log the question and answer, masked, only when LOG_MESSAGES is on (message text is personal data)."""
    if current_app.config["LOG_MESSAGES"]:
        log.info("chat_exchange", question=mask_personal_data(question), answer=mask_personal_data(answer))


def log_stream_end(response_id: str, source: str | None, model: str | None, error_code: str | None) -> None:
    """Log the end of a stream; the request line was written when its headers went out."""
    log.info(
        "chat_stream_finished",
        response_id=response_id,
        source=source,
        model=model,
        processing_time=processing_time(),
        error_code=error_code,
    )
