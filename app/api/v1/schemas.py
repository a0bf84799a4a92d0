"""Request bodies, validated in code with pydantic (flasgger's validation checks nothing for OpenAPI 3)."""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from app.errors import EmptyQuery, InvalidRequest, MessageTooLong


class ChatRequest(BaseModel):
    """The body of POST /api/v1/chat and /api/v1/chat/stream."""

    model_config = ConfigDict(strict=True, extra="ignore")

    message: str
    conversation_id: str | None = None


def read_json_object() -> dict[str, Any]:
    """Return the request's JSON body; reject other media types and anything but an object."""
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)  # a body over MAX_CONTENT_LENGTH still raises 413
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def read_chat_request(max_chars: int) -> ChatRequest:
    """Return the validated chat request, its message stripped of surrounding whitespace."""
    try:
        chat = ChatRequest.model_validate(read_json_object())
    except ValidationError as error:
        raise InvalidRequest(_describe(error)) from None
    message = chat.message.strip()
    if not message:
        raise EmptyQuery()
    if len(message) > max_chars:
        raise MessageTooLong(f"Messages can be at most {max_chars} characters. Please shorten yours.")
    return chat.model_copy(update={"message": message})


def _describe(error: ValidationError) -> str:
    """Say in plain words what is wrong with the first invalid field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "missing":
        return f'The "{field}" field is required.'
    return f'The "{field}" field must be a string.' if first["type"] == "string_type" else f'"{field}": {first["msg"]}.'
