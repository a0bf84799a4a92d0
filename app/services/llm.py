"""The only module that talks to DeepSeek.

DeepSeek's chat-completions API is OpenAI-compatible. `DeepSeekClient` speaks it directly:
one POST over a pooled keep-alive connection (app/services/http_transport.py: httpcore2,
verified TLS, the environment's proxy), the body built and read with orjson
(app/services/deepseek_wire.py). There is no SDK in between: its per-call request
building and pydantic parsing were a third of the CPU of an answer, and the deadline,
retries and error mapping were ours already. Every failure is one of our `UpstreamFailure`
errors.

A deadline that holds. While a request waits in DeepSeek's queue, DeepSeek keeps the
connection alive with blank lines (JSON) or `: keep-alive` comments (SSE); each one resets
an HTTP read timeout, so a read timeout alone never fires. A `SocketWatchdog` shuts the
socket down when DEEPSEEK_TIMEOUT is up (for a stream: when no event came for that long).
Whether the watchdog fired decides, whatever the framing: a close-delimited body (no
Content-Length, not chunked) ends "normally" when its socket is shut, and is still an
UPSTREAM_TIMEOUT, not a garbled answer.

Retries inside that deadline, only for what can succeed on retry (429, 5xx from a busy or
restarting service, connection errors), with exponential backoff and jitter, never shorter
than DeepSeek's Retry-After. A stream is retried until it opens; once it flows it is not.

Function calling, for callers:

    tools = [{"type": "function", "function": {"name": "handoff", "description": "...",
              "parameters": {"type": "object", "properties": {...}}}}]
    completion = client.complete(messages, tools=tools)
    for call in completion.tool_calls:      # ToolCall(id, name, arguments: dict)
        ...
    messages += [completion.message(), {"role": "tool", "tool_call_id": call.id, "content": result}]

The tools go out with tool_choice "auto": the model writes text, calls functions, or both.
An answer with calls and no text is valid (finish_reason "tool_calls", content "").
`client.stream(messages, tools=tools)` yields the text pieces as they come; the calls,
whose arguments arrive in pieces, are on `stream.completion.tool_calls` once it ends.
Arguments that are not a JSON object make the answer an UPSTREAM_ERROR (see deepseek_wire).
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpcore2
import structlog

from app.errors import UpstreamBusy, UpstreamError, UpstreamFailure, UpstreamTimeout, UpstreamUnavailable
from app.metrics import record_deepseek_call
from app.services.deepseek_wire import (
    Completion,
    Message,
    StreamedAnswer,
    Tool,
    ToolCall,
    Usage,
    error_summary,
    parse_completion,
    request_body,
    sse_data,
)
from app.services.http_transport import PoolShards
from app.services.timeouts import Deadline, SocketWatchdog, shutdown_socket

__all__ = ["Completion", "CompletionStream", "DeepSeekClient", "LLMClient", "Message", "Tool", "ToolCall", "Usage",
           "parse_completion"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BUSY_STATUSES = frozenset({429, 503})
ACCOUNT_STATUSES = frozenset({401, 402, 403})  # bad key, no balance, key not allowed
MAX_BACKOFF_SECONDS = 8.0
DEFAULT_BUSY_RETRY_AFTER = 5
TRANSPORT_ERRORS = (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.ProxyError,
                    httpcore2.UnsupportedProtocol, OSError)


class LLMClient(Protocol):
    """What the chat service needs from a language model."""

    model: str

    def complete(self, messages: Sequence[Message], tools: Sequence[Tool] | None = None) -> Completion:
        """Return the model's answer to the conversation so far."""

    def stream(self, messages: Sequence[Message], tools: Sequence[Tool] | None = None) -> CompletionStream:
        """Return the model's answer as a stream of text pieces."""


class DeepSeekClient:
    """DeepSeek chat completions with a real deadline, retries and our error types."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        timeout: float,
        max_retries: int,
        temperature: float,
        max_tokens: int,
        retry_backoff: float = 0.5,
        connect_timeout: float = 5.0,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retries = RetryPolicy(max_retries, retry_backoff)
        # One connection pool for the life of the app.
        self.connection = DeepSeekConnection(api_key=api_key, base_url=base_url, connect_timeout=connect_timeout)

    def close(self) -> None:
        """Close the pooled connections."""
        self.connection.close()

    def complete(self, messages: Sequence[Message], tools: Sequence[Tool] | None = None) -> Completion:
        """Return DeepSeek's answer, retrying what can succeed, within DEEPSEEK_TIMEOUT."""
        deadline, started = Deadline(self.timeout), time.monotonic()
        body = self._body(messages, tools, stream=False)
        try:
            completion = self.retries.run(lambda: self._complete_once(body, deadline), deadline)
        except UpstreamFailure as error:
            record_deepseek_call(error.code.lower(), "json", time.monotonic() - started)
            raise
        record_deepseek_call("ok", "json", time.monotonic() - started, completion.usage)
        return completion

    def stream(self, messages: Sequence[Message], tools: Sequence[Tool] | None = None) -> CompletionStream:
        """Return DeepSeek's answer as a stream of text pieces (nothing is sent until it is iterated)."""
        body = self._body(messages, tools, stream=True)
        return CompletionStream(self.connection, self.retries, body, model=self.model, timeout=self.timeout)

    def _body(self, messages: Sequence[Message], tools: Sequence[Tool] | None, *, stream: bool) -> bytes:
        return request_body(model=self.model, messages=messages, temperature=self.temperature,
                            max_tokens=self.max_tokens, stream=stream, tools=tools)

    def _complete_once(self, body: bytes, deadline: Deadline) -> Completion:
        started = time.monotonic()
        response = self.connection.open(body, deadline)
        try:
            with SocketWatchdog(response, deadline.remaining()) as watchdog, upstream_errors(lambda: watchdog.fired):
                data = response.read()
        finally:
            response.close()
        if watchdog.fired:  # the body may look whole: a close-delimited one ends when its socket is shut
            raise UpstreamTimeout()
        completion = parse_completion(data, self.model)
        log_completion(completion, started, stream=False)
        return completion


class DeepSeekConnection:
    """POST chat-completion bodies to DeepSeek over pooled connections; a refusal is raised as our error."""

    def __init__(self, *, api_key: str, base_url: str, connect_timeout: float) -> None:
        self.url = httpcore2.URL(base_url.rstrip("/") + "/chat/completions")
        self.connect_timeout = connect_timeout
        self._headers = [
            (b"Host", urllib.parse.urlsplit(base_url).netloc.rpartition("@")[2].encode()),
            (b"Authorization", b"Bearer " + api_key.encode()),
            (b"Content-Type", b"application/json"),
            (b"Accept", b"application/json, text/event-stream"),
            (b"Accept-Encoding", b"identity"),  # httpcore2 does not decompress
            (b"User-Agent", b"greengrocer-chatbot"),
        ]
        self._pool = PoolShards(base_url)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

    def open(self, body: bytes, deadline: Deadline) -> httpcore2.Response:
        """Send one request; return DeepSeek's 200 response with its body unread (the caller closes it)."""
        request = httpcore2.Request(
            b"POST",
            self.url,
            headers=[*self._headers, (b"Content-Length", b"%d" % len(body))],
            content=body,
            extensions={"timeout": deadline.http_timeout(self.connect_timeout)},
        )
        with upstream_errors(lambda: deadline.expired):
            response = self._pool.handle_request(request)
            if response.status == 200:
                return response
            try:
                error_body = response.read()
            finally:
                response.close()
        raise status_failure(response.status, response.headers, error_body)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry what can succeed on retry, with exponential backoff and jitter, within a deadline.

    Our own rather than a retry library's: the pause must honour DeepSeek's Retry-After
    and the whole must stop at the deadline that also bounds each attempt.
    """

    max_retries: int
    backoff: float = 0.5

    def run(self, call: Callable[[], T], deadline: Deadline) -> T:
        """Return `call()`, retrying its retryable failures while attempts and the deadline allow."""
        attempt = 0
        while True:
            try:
                return call()
            except UpstreamFailure as error:
                delay = self.pause(attempt, error.wait)
                if not error.retryable or attempt >= self.max_retries or delay >= deadline.remaining():
                    log.warning("llm_call_failed", error_code=error.code, attempts=attempt + 1)
                    raise
                attempt += 1
                log.info("llm_call_retry", error_code=error.code, attempt=attempt, delay_s=round(delay, 3))
                time.sleep(delay)

    def pause(self, attempt: int, wait: int | None) -> float:
        """Return the pause before the next attempt: exponential with jitter, at least DeepSeek's Retry-After."""
        exponential = min(self.backoff * (2**attempt), MAX_BACKOFF_SECONDS)
        jittered = exponential * random.uniform(0.8, 1.2)
        return max(jittered, float(wait)) if wait else jittered


class StreamCancelled(Exception):
    """The reader cancelled the stream; not a failure of DeepSeek's."""


class CompletionStream:
    """DeepSeek's answer as it is written: iterate for text pieces, then read `completion`.

    DEEPSEEK_TIMEOUT bounds the wait for the first event and every gap between events;
    `: keep-alive` comments do not count. Opening is retried like `complete()`; once events
    flow, a broken stream is an UpstreamError, and so is a stream that ends without a
    finish_reason. `reasoning_content` is never yielded; tool calls are on `completion`.
    """

    def __init__(
        self, connection: DeepSeekConnection, retries: RetryPolicy, body: bytes, *, model: str, timeout: float
    ) -> None:
        self.completion: Completion | None = None
        self.received: list[str] = []
        self._connection = connection
        self._retries = retries
        self._body = body
        self._model = model
        self._timeout = timeout
        self._response: httpcore2.Response | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop the stream from any thread; the connection is shut so nobody pays for unread tokens."""
        self._cancelled.set()
        if self._response is not None:
            shutdown_socket(self._response)

    def __iter__(self) -> Iterator[str]:
        started = time.monotonic()
        try:
            yield from self._read(started)
        except StreamCancelled:
            record_deepseek_call("cancelled", "stream", time.monotonic() - started)
            raise
        except UpstreamFailure as error:
            record_deepseek_call(error.code.lower(), "stream", time.monotonic() - started)
            raise
        usage = self.completion.usage if self.completion else None
        record_deepseek_call("ok", "stream", time.monotonic() - started, usage)

    def _read(self, started: float) -> Iterator[str]:
        deadline = Deadline(self._timeout)
        response = self._retries.run(lambda: self._connection.open(self._body, deadline), deadline)
        self._response = response
        answer = StreamedAnswer(self._model)
        try:
            with SocketWatchdog(response, self._timeout) as watchdog:
                if self._cancelled.is_set():  # cancelled while connecting, before there was a socket to shut
                    raise StreamCancelled()
                with upstream_errors(lambda: watchdog.fired, cancelled=self._cancelled.is_set):
                    for data in sse_data(response.iter_stream()):
                        watchdog.touch()  # an event (content, reasoning or a tool call's piece) arrived
                        piece = answer.add(data)
                        if piece:
                            self.received.append(piece)
                            yield piece
                        if answer.done and not delimited(response):
                            break  # a close-delimited body ends when the server closes: no need to wait
        finally:
            response.close()
        if self._cancelled.is_set():
            raise StreamCancelled()
        if watchdog.fired and not answer.done:  # a shut close-delimited body ends like a whole one
            raise UpstreamTimeout()
        self.completion = answer.completion()
        log_completion(self.completion, started, stream=True)


def delimited(response: httpcore2.Response) -> bool:
    """Return whether a body's end is marked (Content-Length or chunked), so reading on to it keeps the connection."""
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in response.headers)


@contextmanager
def upstream_errors(timed_out: Callable[[], bool], cancelled: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Turn transport exceptions raised inside into our errors: a timeout if the deadline passed, else retryable."""
    try:
        yield
    except (httpcore2.TimeoutException, *TRANSPORT_ERRORS) as error:
        if cancelled():
            raise StreamCancelled() from error
        if isinstance(error, httpcore2.TimeoutException) or timed_out():
            raise UpstreamTimeout() from error
        log.warning("llm_connection_error", error_type=type(error).__name__)
        raise UpstreamError(retryable=True) from error


def status_failure(status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> UpstreamFailure:
    """Return our error for DeepSeek's non-200 answer."""
    log.warning("llm_http_error", status=status, upstream_error=error_summary(body))
    if status in BUSY_STATUSES:
        asked = retry_after(headers)
        return UpstreamBusy(retry_after=asked or DEFAULT_BUSY_RETRY_AFTER, wait=asked)
    if status in ACCOUNT_STATUSES:
        return UpstreamUnavailable()
    return UpstreamError(retryable=status in RETRYABLE_STATUSES)


def retry_after(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """Return DeepSeek's Retry-After in whole seconds (1..60), if it sent one."""
    for name, value in headers:
        if name.lower() == b"retry-after":
            try:
                return min(max(int(float(value)), 1), 60)
            except ValueError:
                return None
    return None


def log_completion(completion: Completion, started: float, *, stream: bool) -> None:
    """Log one answered call with its latency and token counts."""
    usage = completion.usage
    log.info(
        "llm_call",
        model=completion.model,
        stream=stream,
        finish_reason=completion.finish_reason,
        tool_calls=len(completion.tool_calls),
        latency_ms=round((time.monotonic() - started) * 1000, 1),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cache_hit_tokens=usage.cache_hit_tokens if usage else None,
    )
