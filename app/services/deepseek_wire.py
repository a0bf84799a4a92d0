"""DeepSeek's wire format: the request body, a completion's JSON, a stream's events; no I/O here.

Parsed with orjson into plain dicts and checked by hand: only the few fields we use are
read, and anything that is not a usable answer is an UpstreamError (logged as
`llm_bad_response` with a reason). `reasoning_content` is never read.

Tool calls: `message.tool_calls` (JSON) or `delta.tool_calls` pieces (streams) become
`ToolCall(id, name, arguments)`. In a stream the first piece of a call carries its `index`,
`id` and `function.name`; later pieces carry the same `index` and more of
`function.arguments`, which are joined before parsing. The arguments must be a JSON object
(an empty string counts as {}); anything else, or a call without an id or a name, is an
UpstreamError logged with reason "tool_arguments" or "tool_call_incomplete", the tool's
name and the arguments' length (never their text, which may hold personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from app.errors import UpstreamError

log = structlog.get_logger(__name__)

Message = dict[str, Any]  # {"role": ..., "content": ...}; assistant and tool messages may carry more
Tool = Mapping[str, Any]  # {"type": "function", "function": {"name", "description", "parameters"}}
DONE = b"[DONE]"
MALFORMED = (ValueError, LookupError, TypeError, AttributeError)  # what reading an unexpected shape raises


@dataclass(frozen=True)
class Usage:
    """Tokens DeepSeek billed for one answer."""

    prompt_tokens: int
    completion_tokens: int
    cache_hit_tokens: int | None = None
    cache_miss_tokens: int | None = None


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks us to call, with its arguments."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Completion:
    """One answer from the model (never its reasoning): text, function calls, or both."""

    content: str
    model: str
    finish_reason: str | None
    usage: Usage | None
    tool_calls: tuple[ToolCall, ...] = ()

    def message(self) -> Message:
        """Return the answer as the assistant message that continues the conversation."""
        message: Message = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()}}
                for call in self.tool_calls
            ]
        return message


def request_body(
    *,
    model: str,
    messages: Sequence[Message],
    temperature: float,
    max_tokens: int,
    stream: bool,
    tools: Sequence[Tool] | None = None,
) -> bytes:
    """Return the JSON body of one chat-completion request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": list(messages),
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = [dict(tool) for tool in tools]
        body["tool_choice"] = "auto"
    return orjson.dumps(body)


def parse_completion(body: bytes, requested_model: str) -> Completion:
    """Read a chat-completion body (keep-alive blank lines first are fine); refuse what is not an answer."""
    try:
        data = orjson.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
        content = (message.get("content") or "").strip()
        finish_reason = choice.get("finish_reason")
        model = data.get("model") or requested_model
        calls = [call_parts(call) for call in message.get("tool_calls") or ()]
    except MALFORMED as error:
        log.warning("llm_bad_response", reason=type(error).__name__, body_bytes=len(body))
        raise UpstreamError() from None
    return answer(content, model, finish_reason, usage_from(data.get("usage")), calls)


def answer(
    content: str, model: str, finish_reason: str | None, usage: Usage | None, calls: Iterable[tuple[Any, Any, Any]]
) -> Completion:
    """Return a checked Completion: text or function calls (or both), the calls' arguments parsed."""
    tool_calls = tuple(tool_call(*call) for call in calls)
    if not content and not tool_calls:  # e.g. a thinking model that spent its tokens on reasoning_content
        log.warning("llm_bad_response", reason="empty_content", finish_reason=finish_reason)
        raise UpstreamError()
    return Completion(content, model, finish_reason, usage, tool_calls)


def call_parts(call: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Return the id, function name and arguments of one of a message's `tool_calls`."""
    function = call.get("function") or {}
    return call.get("id"), function.get("name"), function.get("arguments")


def tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """Return a function call with its JSON arguments parsed into a dict."""
    if not (isinstance(call_id, str) and call_id and isinstance(name, str) and name):
        log.warning("llm_bad_response", reason="tool_call_incomplete", tool=name if isinstance(name, str) else None)
        raise UpstreamError()
    parsed: Any = arguments
    if isinstance(arguments, (str, bytes)):
        try:
            parsed = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            parsed = None
    if not isinstance(parsed, dict):
        size = len(arguments) if isinstance(arguments, (str, bytes)) else None
        log.warning("llm_bad_response", reason="tool_arguments", tool=name, arguments_chars=size)
        raise UpstreamError()
    return ToolCall(call_id, name, parsed)


def usage_from(usage: Any) -> Usage | None:
    """Return token counts with DeepSeek's cache fields; None when there are none worth keeping."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion, usage.get("prompt_cache_hit_tokens"), usage.get("prompt_cache_miss_tokens"))


def error_summary(body: bytes) -> str | None:
    """Return DeepSeek's error message from an error body, cut short for the log; it never reaches a client."""
    try:
        error = orjson.loads(body)["error"]
        text = error.get("message", error) if isinstance(error, dict) else error
    except MALFORMED:
        text = body.decode("utf-8", "replace")
    return str(text)[:200] if text else None


def sse_data(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the data of each server-sent event of a body read in chunks; comments (`: keep-alive`) are skipped."""
    buffer, data = b"", []
    for chunk in chunks:
        buffer += chunk
        lines = buffer.splitlines(keepends=True)  # on \r\n, \n or \r: the event-stream line ends
        buffer = lines.pop() if lines and (lines[-1].endswith(b"\r") or not lines[-1].endswith(b"\n")) else b""
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif not line.startswith(b":"):
                name, _, value = line.partition(b":")
                if name == b"data":
                    data.append(value[1:] if value.startswith(b" ") else value)


@dataclass
class PartialCall:
    """A streamed function call whose pieces are still arriving."""

    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class StreamedAnswer:
    """An answer put together from a stream's events: `add()` each event's data, then `completion()`."""

    def __init__(self, requested_model: str) -> None:
        self.model = requested_model
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False  # `data: [DONE]` arrived
        self.text: list[str] = []
        self.calls: dict[int, PartialCall] = {}

    def add(self, data: bytes) -> str:
        """Take one event's data; return the text it adds to the answer ("" for none)."""
        if data == DONE:
            self.done = True
            return ""
        try:
            event = orjson.loads(data)
            if "error" in event:  # DeepSeek gave up mid-stream
                log.warning("llm_bad_response", reason="error_event", upstream_error=error_summary(data))
                raise UpstreamError()
            self.model = event.get("model") or self.model
            self.usage = usage_from(event.get("usage")) or self.usage
            choice = event["choices"][0] if event.get("choices") else {}
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            delta = choice.get("delta") or {}
            for piece in delta.get("tool_calls") or ():
                self._add_call_piece(piece)
            text = delta.get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except MALFORMED as error:
            log.warning("llm_bad_response", reason=type(error).__name__, event_bytes=len(data))
            raise UpstreamError() from None
        if text:
            self.text.append(text)
        return text

    def completion(self) -> Completion:
        """Return the whole answer; a stream that ended without a finish_reason was cut short."""
        if self.finish_reason is None:
            log.warning("llm_bad_response", reason="stream_cut")
            raise UpstreamError()
        calls = [(call.id, call.name, "".join(call.arguments)) for _, call in sorted(self.calls.items())]
        return answer("".join(self.text).strip(), self.model, self.finish_reason, self.usage, calls)

    def _add_call_piece(self, piece: dict[str, Any]) -> None:
        call = self.calls.setdefault(int(piece.get("index", 0)), PartialCall())
        function = piece.get("function") or {}
        call.id = piece.get("id") or call.id
        call.name = function.get("name") or call.name
        arguments = function.get("arguments")
        if arguments:
            if not isinstance(arguments, str):
                raise TypeError("arguments are not text")
            call.arguments.append(arguments)
