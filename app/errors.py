"""The error family and the handlers that give every error the same JSON shape.

Views and services raise `APIError` subclasses; werkzeug's HTTP errors and anything
unexpected are turned into the same body: {"error": {"code": ..., "message": ...}}.
A view may add fields to its own error bodies (the chat views add "content" and
"metadata") by carrying an `error_extras(code, message) -> dict` attribute.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

log = structlog.get_logger(__name__)


class APIError(Exception):
    """An error with a status, a stable code and a message safe to show a customer."""

    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Something went wrong on our side. Please try again in a moment."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.retry_after = retry_after


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


class Unauthorized(APIError):
    status_code = 401
    code = "UNAUTHORIZED"
    message = "Send a valid API key as 'Authorization: Bearer <key>'."


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


def register_error_handlers(app: Flask) -> None:
    """Give every error, ours, werkzeug's or unexpected, the one JSON shape."""
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def handle_api_error(error: APIError) -> Response:
    """Render an error raised by our own code."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return error_response(error.status_code, error.code, error.message, headers)


def handle_http_error(error: HTTPException) -> Response:
    """Render a werkzeug HTTP error (404, 405, 413, 415, ...) as JSON."""
    status = error.code or 500
    code, message = HTTP_ERRORS.get(status, (_code_from_name(error.name), error.description or error.name))
    headers = {key: value for key, value in error.get_headers() if key.lower() == "allow"}
    return error_response(status, code, message, headers)


def handle_unexpected_error(error: Exception) -> Response:
    """Log an unexpected error with its traceback and answer a bare 500."""
    log.exception("unhandled_exception", error_type=type(error).__name__)
    return error_response(APIError.status_code, APIError.code, APIError.message)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the JSON error response, with the view's own extra fields if it declares any."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    extras = getattr(_current_view(), "error_extras", None)
    if extras is not None:
        body.update(extras(code, message))
    structlog.contextvars.bind_contextvars(error_code=code)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _current_view() -> Any:
    """Return the view function that matched this request, if any matched."""
    if request.url_rule is None:
        return None
    return current_app.view_functions.get(request.endpoint or "")


def _code_from_name(name: str) -> str:
    """Turn a werkzeug error name ("Bad Gateway") into a code ("BAD_GATEWAY")."""
    return "_".join(name.upper().replace("'", "").split())
