"""POST /api/v1/chat and /api/v1/chat/stream: a customer's question in, the answer out."""

from __future__ import annotations

import structlog
from flask import Blueprint, Response, current_app, jsonify

from app.api import sse
from app.api.v1.answers import answer_events, log_exchange, response_metadata, with_chat_fields
from app.api.v1.owners import requesting_key_id
from app.api.v1.schemas import read_chat_request
from app.errors import api_error_for, error_response
from app.services import chatbot_service
from app.services.chatbot_service import Turn

chat_bp = Blueprint("chat", __name__)


@chat_bp.errorhandler(Exception)
def chat_error(error: Exception) -> Response:
    """Render any error of a chat route (the rate limit's and the API key's too) with content and metadata."""
    return error_response(with_chat_fields(api_error_for(error)))


def begin_turn() -> Turn:
    """Validate the request and store its question in its conversation."""
    question = read_chat_request(current_app.config["MAX_MESSAGE_CHARS"])
    turn = chatbot_service().begin(question.message, question.conversation_id, requesting_key_id())
    structlog.contextvars.bind_contextvars(conversation_id=turn.conversation_id)
    return turn


def held_response(turn: Turn) -> tuple[Response, int]:
    """Say that a person has the conversation: the message is stored, and the bot does not answer (202)."""
    structlog.contextvars.bind_contextvars(source="held", state=turn.state)
    return jsonify(
        conversation_id=turn.conversation_id, state=turn.state, message_id=turn.question_id, agent=turn.agent
    ), 202


@chat_bp.post("/chat")
def chat() -> Response | tuple[Response, int]:
    """Answer a customer's question, in a new or an existing conversation (202 while a person has it)."""
    turn = begin_turn()
    if turn.held:
        return held_response(turn)
    answer = chatbot_service().answer(turn)
    structlog.contextvars.bind_contextvars(source=answer.source)
    log_exchange(turn.message, answer.content)
    return jsonify(
        content=answer.content,
        source=answer.source,
        conversation_id=turn.conversation_id,
        state=turn.state,
        message_id=turn.answer_id,
        question_id=turn.question_id,
        metadata=response_metadata(answer.model, None, turn.response_id, turn.answer_id),
    )


@chat_bp.post("/chat/stream")
def chat_stream() -> Response | tuple[Response, int]:
    """Stream the answer to a customer's question as server-sent events while it is written (202 while held)."""
    turn = begin_turn()
    if turn.held:
        return held_response(turn)
    stream = chatbot_service().stream(turn)  # errors up to here are plain JSON errors
    return sse.event_stream(answer_events(stream))
