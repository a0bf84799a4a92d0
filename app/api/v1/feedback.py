"""PUT and DELETE /api/v1/conversations/<id>/messages/<message_id>/feedback: a customer rates an answer."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.v1.conversations import LARGEST_MESSAGE_ID
from app.api.v1.owners import requesting_key_id
from app.api.v1.schemas import read_json_object
from app.errors import InvalidRequest
from app.services import feedback_service
from app.services.feedback import LONGEST_COMMENT
from app.utils.timestamps import iso

feedback_bp = Blueprint("feedback", __name__)

FEEDBACK_PATH = "/conversations/<conversation_id>/messages/<message_id>/feedback"


class FeedbackRequest(BaseModel):
    """The body of PUT .../feedback: a rating and, optionally, a comment."""

    model_config = ConfigDict(strict=True, extra="forbid")

    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=LONGEST_COMMENT)


@feedback_bp.put(FEEDBACK_PATH)
def rate_answer(conversation_id: str, message_id: str) -> Response:
    """Store or replace the customer's rating of an answer (the bot's or an agent's)."""
    body = read_feedback()
    comment = (body.comment or "").strip() or None
    rating = feedback_service().rate(
        conversation_id, message_number(message_id), requesting_key_id(), body.rating, comment
    )
    return jsonify(
        message_id=rating.message_id, rating=rating.rating, comment=rating.comment, updated_at=iso(rating.updated_at)
    )


@feedback_bp.delete(FEEDBACK_PATH)
def withdraw_rating(conversation_id: str, message_id: str) -> Response:
    """Remove the customer's rating of an answer."""
    feedback_service().withdraw(conversation_id, message_number(message_id), requesting_key_id())
    return Response(status=204)


def read_feedback() -> FeedbackRequest:
    """Return the validated body; a wrong or unknown field is INVALID_REQUEST naming it."""
    try:
        return FeedbackRequest.model_validate(read_json_object())
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        problems = {
            "missing": "is required",
            "extra_forbidden": "is not a field of a rating",
            "string_too_long": f"can be at most {LONGEST_COMMENT} characters",
        }
        problem = problems.get(first["type"], "must be \"up\" or \"down\"" if field == "rating" else "must be a string")
        raise InvalidRequest(f'"{field}" {problem}.', extra={"field": field}) from None


def message_number(raw: str) -> int:
    """Return the message id of the address; 0, which no message has, for one that cannot be a message id."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= LARGEST_MESSAGE_ID:
        return int(raw)
    return 0
