"""Request bodies: read safely in one place, then validated in code with pydantic.

`read_json_object` is the one reader of JSON bodies (flasgger's validation checks
nothing for OpenAPI 3). Before any view sees a body it refuses what no database or log
can take, and cleans what it can:

- a body nested deeper than MAX_JSON_NESTING levels is refused, before it is parsed
  (the parser recurses once per level);
- a lone or reversed UTF-16 surrogate (`"\\ud800"`, valid JSON but not Unicode text)
  anywhere, key or value, is refused;
- control characters other than newline and tab are removed from every string, keys
  included, and CR LF or a lone CR becomes a newline (PostgreSQL cannot store NUL, and
  no client means to send the rest).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from app.errors import EmptyQuery, InvalidRequest, MessageTooLong

MAX_JSON_NESTING = 32  # levels of objects and arrays a body may have; ours need one

WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")  # a query argument's digits, before its range is checked
_SURROGATE = re.compile("[\ud800-\udfff]")  # after decoding, only unpaired ones remain
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode's Cc, newline and tab excepted
_NEWLINE = re.compile("\r\n?")
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class ChatRequest(BaseModel):
    """The body of POST /api/v1/chat and /api/v1/chat/stream."""

    model_config = ConfigDict(strict=True, extra="ignore")

    message: str
    conversation_id: str | None = None


def read_json_object() -> dict[str, Any]:
    """Return the request's JSON object, cleaned; refuse other media types, other JSON and hostile bodies."""
    if not request.is_json:
        raise UnsupportedMediaType()
    raw = request.get_data(cache=True)  # a body over MAX_CONTENT_LENGTH raises 413
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request body must be JSON encoded as UTF-8.") from None
    if text.count("[") + text.count("{") > MAX_JSON_NESTING and nesting_depth(text) > MAX_JSON_NESTING:
        raise InvalidRequest(f"The request body is nested too deeply (at most {MAX_JSON_NESTING} levels).")
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return clean_json(data)


def clean_json(value: Any) -> Any:
    """Return a parsed JSON value with every string cleaned; refuse text with an unpaired surrogate."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InvalidRequest("The request body must be valid Unicode text (it has an unpaired surrogate).")
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_json(key): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    return value


def clean_text(text: str) -> str:
    """Turn CR LF and lone CR into newlines and remove every other control character but tab."""
    return _CONTROL.sub("", _NEWLINE.sub("\n", text))


def nesting_depth(text: str) -> int:
    """Return how deeply a JSON text nests objects and arrays, brackets inside strings not counted."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING_LITERAL.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


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


def read_optional_body() -> dict[str, Any]:
    """Return the request's JSON object, or {} when it has no body at all (an optional body)."""
    if not request.get_data(cache=True):
        return {}
    return read_json_object()


def text_field(body: dict[str, Any], name: str, max_chars: int, *, required: bool = False) -> str | None:
    """Return a string field stripped of surrounding whitespace (None when absent or blank, unless required)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f'The "{name}" field must be a string.' if value is not None
                             else f'The "{name}" field is required.')
    value = value.strip()
    if required and not value:
        raise InvalidRequest(f'The "{name}" field must not be empty.')
    if len(value) > max_chars:
        raise InvalidRequest(f'"{name}" can be at most {max_chars} characters.')
    return value or None


def number_argument(
    name: str, lowest: int, highest: int, default: int | None = None, *, meaning: str | None = None
) -> int | None:
    """Return a query argument that must be a whole number in [lowest, highest]; the default when it is absent.

    The error says what the number must be: `meaning` (e.g. "a message_id (a whole number)"), else the range.
    """
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (WHOLE_NUMBER.fullmatch(raw) and lowest <= int(raw) <= highest):
        raise InvalidRequest(f'"{name}" must be {meaning or f"a whole number from {lowest} to {highest}"}.')
    return int(raw)
