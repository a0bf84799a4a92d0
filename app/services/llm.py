"""The only module that talks to DeepSeek.

DeepSeek's API is OpenAI-compatible and DeepSeek recommends the `openai` SDK with
`base_url`; this module wraps it behind `DeepSeekClient.complete()` and `.stream()`
and turns every SDK or transport failure into one of our `UpstreamFailure` errors.

Two things the SDK does not do for us:
- A deadline that holds. While a request waits in DeepSeek's queue, DeepSeek keeps the
  connection alive with blank lines (JSON) or `: keep-alive` comments (SSE); each one
  resets an HTTP read timeout, so the SDK's `timeout` alone never fires. A
  `SocketWatchdog` shuts the socket down when the time is up, ending any blocked read.
- Retries inside that deadline, only for what can succeed on retry (429, 5xx from a
  busy or restarting service, connection errors), with exponential backoff.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx2
import openai
import pydantic
import structlog
from openai.types.chat import ChatCompletion

from app.errors import UpstreamBusy, UpstreamError, UpstreamFailure, UpstreamTimeout, UpstreamUnavailable
from app.metrics import record_deepseek_call
from app.services.http_transport import deepseek_http_client
from app.services.timeouts import Deadline, SocketWatchdog, shutdown_socket

log = structlog.get_logger(__name__)

Message = dict[str, str]
T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BUSY_STATUSES = frozenset({429, 503})
ACCOUNT_STATUSES = frozenset({401, 402, 403})  # bad key, no balance, key not allowed
MAX_BACKOFF_SECONDS = 8.0
DEFAULT_BUSY_RETRY_AFTER = 5


@dataclass(frozen=True)
class Usage:
    """Tokens DeepSeek billed for one answer."""

    prompt_tokens: int
    completion_tokens: int
    cache_hit_tokens: int | None = None
    cache_miss_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    """One answer from the model (never its reasoning)."""

    content: str
    model: str
    finish_reason: str | None
    usage: Usage | None


class LLMClient(Protocol):
    """What the chat service needs from a language model."""

    model: str

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Return the model's answer to the conversation so far."""

    def stream(self, messages: Sequence[Message]) -> CompletionStream:
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
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retry_backoff = retry_backoff
        self.connect_timeout = connect_timeout
        # One client, one connection pool, for the life of the app; retries are ours.
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout, http_client=deepseek_http_client()
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def complete(self, messages: Sequence[Message]) -> Completion:
        """Return DeepSeek's answer, retrying what can succeed, within DEEPSEEK_TIMEOUT."""
        deadline, started = Deadline(self.timeout), time.monotonic()
        try:
            completion = self._with_retries(lambda: self._complete_once(messages, deadline), deadline)
        except UpstreamFailure as error:
            record_deepseek_call(error.code.lower(), "json", time.monotonic() - started)
            raise
        record_deepseek_call("ok", "json", time.monotonic() - started, completion.usage)
        return completion

    def stream(self, messages: Sequence[Message]) -> CompletionStream:
        """Return DeepSeek's answer as a stream of text pieces (nothing is sent until it is iterated)."""
        return CompletionStream(self, messages)

    def _request(self, messages: Sequence[Message], deadline: Deadline, stream: bool) -> dict[str, Any]:
        """Return the chat-completion parameters for one call."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": stream,
            "timeout": deadline.http_timeout(self.connect_timeout),
        }
        if stream:
            params["stream_options"] = {"include_usage": True}
        return params

    def _complete_once(self, messages: Sequence[Message], deadline: Deadline) -> Completion:
        started = time.monotonic()
        params = self._request(messages, deadline, stream=False)
        with upstream_errors(lambda: deadline.expired), self._client.chat.completions.with_streaming_response.create(
            **params
        ) as response, SocketWatchdog(response.http_response, deadline.remaining()):
            body = b"".join(response.iter_bytes())
        completion = parse_completion(body, self.model)
        log_completion(completion, started, stream=False)
        return completion

    def _with_retries(self, call: Callable[[], T], deadline: Deadline) -> T:
        """Run `call`, retrying retryable failures with backoff while the deadline allows."""
        attempt = 0
        while True:
            try:
                return call()
            except UpstreamFailure as error:
                retryable = getattr(error, "retryable", False)
                delay = self._backoff(attempt, getattr(error, "wait", None))
                if not retryable or attempt >= self.max_retries or delay >= deadline.remaining():
                    log.warning("llm_call_failed", error_code=error.code, attempts=attempt + 1)
                    raise
                attempt += 1
                log.info("llm_call_retry", error_code=error.code, attempt=attempt, delay_s=round(delay, 3))
                time.sleep(delay)

    def _backoff(self, attempt: int, wait: int | None) -> float:
        """Return the pause before the next attempt: exponential with jitter, at least DeepSeek's Retry-After."""
        exponential = min(self.retry_backoff * (2**attempt), MAX_BACKOFF_SECONDS)
        jittered = exponential * random.uniform(0.8, 1.2)
        return max(jittered, float(wait)) if wait else jittered


class StreamCancelled(Exception):
    """The reader cancelled the stream; not a failure of DeepSeek's."""


class CompletionStream:
    """DeepSeek's answer as it is written: iterate for text pieces, then read `completion`.

    DEEPSEEK_TIMEOUT bounds the wait for the first token and every gap between tokens;
    `: keep-alive` comments do not count as tokens. Connecting is retried like
    `complete()`; once tokens flow, a broken stream is an UpstreamError, and so is a
    stream that ends without a finish_reason. `reasoning_content` is never yielded.
    """

    def __init__(self, client: DeepSeekClient, messages: Sequence[Message]) -> None:
        self.completion: Completion | None = None
        self.received: list[str] = []
        self._client = client
        self._messages = list(messages)
        self._response: httpx2.Response | None = None
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
        client = self._client
        deadline = Deadline(client.timeout)
        stream = client._with_retries(lambda: self._open(deadline), deadline)
        self._response = stream.response
        finish_reason, usage, model = None, None, client.model
        with SocketWatchdog(stream.response, client.timeout) as watchdog, stream:
            if self._cancelled.is_set():
                raise StreamCancelled()
            with upstream_errors(lambda: watchdog.fired, cancelled=self._cancelled.is_set):
                for chunk in stream:
                    watchdog.touch()  # a token (content or reasoning) arrived
                    model = chunk.model or model
                    usage = usage_from(chunk.usage) or usage
                    choice = chunk.choices[0] if chunk.choices else None
                    if choice is None:
                        continue
                    finish_reason = choice.finish_reason or finish_reason
                    if choice.delta is not None and choice.delta.content:
                        self.received.append(choice.delta.content)
                        yield choice.delta.content
        content = "".join(self.received).strip()
        if finish_reason is None or not content:
            log.warning("llm_bad_response", reason="stream_cut" if finish_reason is None else "empty_content")
            raise UpstreamError()
        self.completion = Completion(content=content, model=model, finish_reason=finish_reason, usage=usage)
        log_completion(self.completion, started, stream=True)

    def _open(self, deadline: Deadline) -> openai.Stream[Any]:
        params = self._client._request(self._messages, deadline, stream=True)
        with upstream_errors(lambda: deadline.expired):
            return self._client._client.chat.completions.create(**params)


@contextmanager
def upstream_errors(timed_out: Callable[[], bool], cancelled: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Turn SDK and transport exceptions raised inside into our UpstreamFailure errors."""
    try:
        yield
    except UpstreamFailure:
        raise
    except Exception as error:
        if cancelled():
            raise StreamCancelled() from error
        failure = translate_error(error, timed_out())
        if failure is None:
            raise
        raise failure from error


def translate_error(error: Exception, timed_out: bool) -> UpstreamFailure | None:
    """Return our error for an SDK or transport exception (None: not an upstream failure)."""
    transport_errors = (openai.APIConnectionError, httpx2.TransportError)
    if isinstance(error, (openai.APITimeoutError, httpx2.TimeoutException)) or (
        isinstance(error, transport_errors) and timed_out
    ):
        return UpstreamTimeout()
    if isinstance(error, transport_errors):
        log.warning("llm_connection_error", error_type=type(error).__name__)
        return _mark(UpstreamError(), retryable=True)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        log.warning("llm_http_error", status=status, upstream_error=_error_summary(error.body))
        if status in BUSY_STATUSES:
            asked = _retry_after(error.response)
            return _mark(UpstreamBusy(retry_after=asked or DEFAULT_BUSY_RETRY_AFTER), retryable=True, wait=asked)
        if status in ACCOUNT_STATUSES:
            return UpstreamUnavailable()
        return _mark(UpstreamError(), retryable=status in RETRYABLE_STATUSES)
    if isinstance(error, (openai.APIError, ValueError)):  # an error event mid-stream, or unreadable data
        log.warning("llm_bad_response", reason=type(error).__name__)
        return UpstreamError()
    return None


def log_completion(completion: Completion, started: float, *, stream: bool) -> None:
    """Log one answered call with its latency and token counts."""
    usage = completion.usage
    log.info(
        "llm_call",
        model=completion.model,
        stream=stream,
        finish_reason=completion.finish_reason,
        latency_ms=round((time.monotonic() - started) * 1000, 1),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cache_hit_tokens=usage.cache_hit_tokens if usage else None,
    )


def parse_completion(body: bytes, requested_model: str) -> Completion:
    """Read a chat-completion body; anything that is not a usable answer is an UpstreamError.

    The SDK hands back a non-JSON 200 body as a plain string instead of raising, so
    the body is parsed and validated here.
    """
    try:
        completion = ChatCompletion.model_validate(json.loads(body))
        message = completion.choices[0].message
    except (ValueError, pydantic.ValidationError, IndexError) as error:
        log.warning("llm_bad_response", reason=type(error).__name__, body_bytes=len(body))
        raise UpstreamError() from None
    content = (message.content or "").strip()
    if not content:  # e.g. a thinking model that spent its tokens on reasoning_content
        log.warning("llm_bad_response", reason="empty_content", finish_reason=completion.choices[0].finish_reason)
        raise UpstreamError()
    return Completion(
        content=content,
        model=completion.model or requested_model,
        finish_reason=completion.choices[0].finish_reason,
        usage=usage_from(completion.usage),
    )


def usage_from(usage: Any) -> Usage | None:
    """Return token counts from an SDK usage object, with DeepSeek's cache fields."""
    if usage is None:
        return None
    extra = getattr(usage, "model_extra", None) or {}
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cache_hit_tokens=extra.get("prompt_cache_hit_tokens"),
        cache_miss_tokens=extra.get("prompt_cache_miss_tokens"),
    )


def _mark(error: UpstreamFailure, *, retryable: bool, wait: int | None = None) -> UpstreamFailure:
    """Note on the error whether a retry may help and how long DeepSeek asked us to wait."""
    error.retryable = retryable  # type: ignore[attr-defined]
    error.wait = wait  # type: ignore[attr-defined]
    return error


def _retry_after(response: httpx2.Response) -> int | None:
    """Return DeepSeek's Retry-After in whole seconds (1..60), if it sent one."""
    try:
        seconds = int(float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
    return min(max(seconds, 1), 60)


def _error_summary(body: object) -> str | None:
    """Return DeepSeek's error message for the log, cut short; it never reaches a client."""
    if isinstance(body, dict):
        body = body.get("message", body)
    return None if body is None else str(body)[:200]
