"""The only module that talks to the helpdesk: one signed POST of an event, and what came of it.

Every attempt sends the event's stored body, byte for byte, with:
- `X-Signature-256: sha256=<hex HMAC-SHA256 of the body, keyed with HANDOFF_WEBHOOK_SECRET>`;
- `X-Event-ID` (the body's event_id, the same on every attempt: the helpdesk dedupes on it),
  `X-Event-Type` (the body's event) and `X-Delivery-Attempt` (1, 2, ...).
There is no separate timestamp header: it would not be signed, and the signed body
carries `occurred_at`.

WEBHOOK_TIMEOUT bounds each attempt whole: httpcore2's timeouts cover connecting and the
answer's headers, a `SocketWatchdog` the body. Redirects are not followed (the URL must be
the final one). 2xx is delivered; 408, 425, 429, 5xx, timeouts and connection errors may
succeed later (with the helpdesk's Retry-After, if it sends one); any other answer is a
refusal that asking again will not change.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpcore2

from app.services.http_transport import connection_pool
from app.services.timeouts import Deadline, SocketWatchdog

RETRYABLE_STATUSES = frozenset({408, 425, 429})  # and every 5xx
MAX_ANSWER_BYTES = 64 * 1024  # read this much of the helpdesk's answer at most; the status is what counts
CONNECT_TIMEOUT = 5.0
TRANSPORT_ERRORS = (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.ProxyError,
                    httpcore2.UnsupportedProtocol, OSError)


def signature(body: bytes, secret: str) -> str:
    """Return the X-Signature-256 value of a body: "sha256=" and the hex HMAC-SHA256 keyed with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """What came of one POST: the status (None without an answer), or the error, and whether to try again."""

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the helpdesk asked us to wait

    @property
    def delivered(self) -> bool:
        """Return whether the helpdesk took the event (any 2xx)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Return whether another attempt may succeed: no answer, or a status that says "not now"."""
        return self.status is None or self.status in RETRYABLE_STATUSES or self.status >= 500

    @property
    def summary(self) -> str:
        """Return what went wrong in a few words ("HTTP 503", "timeout", "ConnectError"); never the secret or body."""
        return f"HTTP {self.status}" if self.status is not None else self.error or "unknown"


class HelpdeskClient:
    """POST events to HANDOFF_WEBHOOK_URL over a keep-alive pool (verified TLS, the environment's proxy)."""

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url = httpcore2.URL(url)
        self.secret = secret
        self.timeout = timeout
        self._host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2].encode()
        self._pool = connection_pool(url)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

    def post(self, body: bytes, *, event: str, event_id: str, attempt: int) -> Attempt:
        """Send one event once, within WEBHOOK_TIMEOUT; never raise for what the network or helpdesk does."""
        deadline = Deadline(self.timeout)
        request = httpcore2.Request(
            b"POST",
            self.url,
            headers=[
                (b"Host", self._host),
                (b"Content-Type", b"application/json"),
                (b"Content-Length", b"%d" % len(body)),
                (b"User-Agent", b"greengrocer-chatbot"),
                (b"X-Event-ID", event_id.encode()),
                (b"X-Event-Type", event.encode()),
                (b"X-Delivery-Attempt", b"%d" % attempt),
                (b"X-Signature-256", signature(body, self.secret).encode()),
            ],
            content=body,
            extensions={"timeout": deadline.http_timeout(CONNECT_TIMEOUT)},
        )
        try:
            response = self._pool.handle_request(request)
        except httpcore2.TimeoutException:
            return Attempt(error="timeout")
        except TRANSPORT_ERRORS as error:
            return Attempt(error="timeout" if deadline.expired else type(error).__name__)
        drain(response, deadline)
        return Attempt(status=response.status, retry_after=retry_after(response.headers))


def drain(response: httpcore2.Response, deadline: Deadline) -> None:
    """Read (and drop) the answer's body within the deadline, so that its connection can be kept; then close it."""
    try:
        with SocketWatchdog(response, deadline.remaining()):
            read = 0
            for chunk in response.iter_stream():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    break
    except (httpcore2.TimeoutException, *TRANSPORT_ERRORS):
        pass  # the status has been read: it decides, not how the body ended
    finally:
        response.close()


def retry_after(headers: list[tuple[bytes, bytes]]) -> float | None:
    """Return the helpdesk's Retry-After (seconds, or an HTTP date) as seconds from now, if it sent one."""
    for name, value in headers:
        if name.lower() != b"retry-after":
            continue
        text = value.decode("latin-1").strip()
        if text.isdigit():
            return float(text)
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return None

