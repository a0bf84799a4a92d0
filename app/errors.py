"""The error family and the handlers that give every error the same JSON shape.

Views and services raise `APIError` subclasses; werkzeug's HTTP errors and anything
unexpected are turned into the same body: {"error": {"code": ..., "message": ...}}.
An error carries its own extra body fields (`extra`, as apiflask's HTTPError does) and
headers; whoever raises or catches it attaches them (the chat blueprint adds "content"
and "metadata" to every error of its routes). Nothing is looked up from the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = structlog.get_logger(__name__)


class APIError(Exception):
    """An error with a status, a stable code and a message safe to show a customer."""

    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Something went wrong on our side. Please try again in a moment."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = dict(extra or {})  # more top-level fields of the error body

    def response_headers(self) -> dict[str, str]:
        """Return the headers of the error response: the error's own, and Retry-After if it has one."""
        if self.retry_after:
            return {**self.headers, "Retry-After": str(self.retry_after)}
        return dict(self.headers)


class InvalidRequest(APIError):
    status_code = 400
    code = "INVALID_REQUEST"
    message = 'Send a JSON object with a "message" string.'


class EmptyQuery(APIError):
    status_code = 400
    code = "EMPTY_QUERY_001"
    message = "Please type a question so we can help you."


class MessageTooLong(APIError):
    status_code = 400
    code = "MESSAGE_TOO_LONG"
    message = "That message is too long. Please shorten it and try again."


class InvalidFaqEntry(InvalidRequest):
    """An FAQ entry sent to the staff API breaks a rule of the file format; `field` names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f'"{field}": {problem}', extra={"field": field})


class Unauthorized(APIError):
    status_code = 401
    code = "UNAUTHORIZED"
    message = "Send a valid API key as 'Authorization: Bearer <key>'."
    realm = "api"  # named in the WWW-Authenticate header

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers.setdefault("WWW-Authenticate", f'Bearer realm="{self.realm}"')


class StaffUnauthorized(Unauthorized):
    message = "Send a valid staff token as 'Authorization: Bearer <token>'."
    realm = "staff"


class Forbidden(APIError):
    status_code = 403
    code = "FORBIDDEN"
    message = "Your staff role does not allow this; ask an admin."


class RateLimited(APIError):
    status_code = 429
    code = "RATE_LIMIT_429"
    message = "You are sending messages too quickly."


class RateLimitUnavailable(APIError):
    status_code = 503
    code = "RATE_LIMIT_UNAVAILABLE"
    message = "We cannot take requests right now. Please try again in a moment."


class ConversationNotFound(APIError):
    status_code = 404
    code = "CONVERSATION_NOT_FOUND"
    message = "We could not find that conversation. Please start a new one."


class WebhookEventNotFound(APIError):
    status_code = 404
    code = "WEBHOOK_EVENT_NOT_FOUND"
    message = "There is no failed webhook event with that id."


class FaqNotFound(APIError):
    status_code = 404
    code = "FAQ_NOT_FOUND"
    message = "There is no FAQ entry with that id."


class MessageNotFound(APIError):
    status_code = 404
    code = "MESSAGE_NOT_FOUND"
    message = "There is no message with that id."


class FaqIdTaken(APIError):
    status_code = 409
    code = "FAQ_ID_TAKEN"
    message = "An FAQ entry with that id already exists; choose another id, or edit that entry."


class AlreadyClaimed(APIError):
    status_code = 409
    code = "ALREADY_CLAIMED"
    message = "Another agent has this conversation, or it is not waiting for one."


class NotAssigned(APIError):
    status_code = 409
    code = "NOT_ASSIGNED"
    message = "You do not hold this conversation; claim it first."


class ConversationFull(APIError):
    status_code = 409
    code = "CONVERSATION_FULL"
    message = "This conversation has reached its length limit. Please start a new conversation to continue."


class UpstreamFailure(APIError):
    """The language model could not give an answer; subclasses say why.

    `retryable` says whether asking again may succeed (a class default that a raise may
    override); `wait` is how long DeepSeek asked us to wait first (its Retry-After), if it did.
    """

    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        retryable: bool | None = None,
        wait: int | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        if retryable is not None:
            self.retryable = retryable
        self.wait = wait


class LLMNotConfigured(UpstreamFailure):
    status_code = 503
    code = "LLM_NOT_CONFIGURED"
    message = "Our assistant can only answer common questions right now. Please contact support for anything else."


class BudgetExhausted(UpstreamFailure):
    status_code = 503
    code = "BUDGET_EXHAUSTED"
    message = (
        "Our assistant has answered all it can for today and can only answer common questions until midnight UTC. "
        "Please contact support for anything else."
    )


class UpstreamBusy(UpstreamFailure):
    status_code = 503
    code = "UPSTREAM_BUSY"
    message = "Our assistant is very busy right now. Please try again shortly."
    retryable = True


class UpstreamError(UpstreamFailure):
    status_code = 502
    code = "UPSTREAM_ERROR"
    message = "Our assistant could not answer just now. Please try again."


class UpstreamTimeout(UpstreamFailure):
    status_code = 504
    code = "UPSTREAM_TIMEOUT"
    message = "Our assistant took too long to answer. Please try again."


class UpstreamUnavailable(UpstreamFailure):
    status_code = 503
    code = "UPSTREAM_UNAVAILABLE"
    message = "Our assistant is unavailable right now. Please contact support or try again later."


# werkzeug's HTTP errors, by status, in our words.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST", 'Send a JSON object with a "message" string.'),
    404: ("NOT_FOUND", "There is nothing at this address."),
    405: ("METHOD_NOT_ALLOWED", "This address does not accept that method."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON with Content-Type: application/json."),
    429: ("RATE_LIMIT_429", "You are sending messages too quickly."),
}


class HTTPError(APIError):
    """A werkzeug HTTP error (404, 405, 413, 415, ...) in our words."""

    def __init__(self, error: HTTPException) -> None:
        status = error.code or 500
        code, message = HTTP_ERRORS.get(status, (_code_from_name(error.name), error.description or error.name))
        headers = {key: value for key, value in error.get_headers() if key.lower() == "allow"}
        super().__init__(message, headers=headers)
        self.status_code = status
        self.code = code


def register_error_handlers(app: Flask) -> None:
    """Give every error, ours, werkzeug's or unexpected, the one JSON shape."""
    app.register_error_handler(Exception, handle_error)


def handle_error(error: Exception) -> Response:
    """Render any error as JSON (an unexpected one is logged with its traceback)."""
    return error_response(api_error_for(error))


def api_error_for(error: Exception) -> APIError:
    """Return an error as one of ours: ours as it is, werkzeug's in our words, anything else a bare 500."""
    if isinstance(error, APIError):
        return error
    if isinstance(error, HTTPException):
        return HTTPError(error)
    log.exception("unhandled_exception", error_type=type(error).__name__)
    return APIError()


def error_response(error: APIError) -> Response:
    """Build the JSON error response: code and message, the error's extra fields, its headers."""
    body: dict[str, Any] = {"error": {"code": error.code, "message": error.message}, **error.extra}
    structlog.contextvars.bind_contextvars(error_code=error.code)
    response = jsonify(body)
    response.status_code = error.status_code
    response.headers.update(error.response_headers())
    return response


def _code_from_name(name: str) -> str:
    """Turn a werkzeug error name ("Bad Gateway") into a code ("BAD_GATEWAY")."""
    return "_".join(name.upper().replace("'", "").split())
