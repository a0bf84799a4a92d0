"""Deadlines that hold even while a server keeps a connection alive with filler bytes.

DeepSeek keeps a queued request's connection open with blank lines or `: keep-alive`
comments; each one restarts an HTTP read timeout, so a read timeout alone never fires.
`SocketWatchdog` shuts the socket down when its time is up, which ends any read blocked
on it at once (`shutdown()`, unlike `close()`, wakes a read blocked in another thread or
greenlet).
"""

from __future__ import annotations

import socket
import threading
import time

import httpx2


class Deadline:
    """A point in time by which a whole answer must be in."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Return the seconds left, never below zero."""
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        """Return whether the time is up."""
        return self.remaining() <= 0.0

    def http_timeout(self, connect: float) -> httpx2.Timeout:
        """Return transport timeouts that cannot outlast the deadline."""
        left = max(self.remaining(), 0.001)
        return httpx2.Timeout(left, connect=min(connect, left))


class SocketWatchdog:
    """Shut a response's socket down once `seconds` pass without a `touch()`.

    Untouched, it is a deadline for the whole body; touched on every real event of a
    stream, it bounds the wait for the first event and every gap between events.
    """

    def __init__(self, response: httpx2.Response, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._response = response
        self._expires_at = time.monotonic() + seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="socket-watchdog", daemon=True)

    def __enter__(self) -> SocketWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()

    def touch(self) -> None:
        """Push the deadline `seconds` into the future."""
        self._expires_at = time.monotonic() + self.seconds

    def _watch(self) -> None:
        while not self._stop.wait(max(self._expires_at - time.monotonic(), 0.0)):
            if time.monotonic() >= self._expires_at:
                self.fired = True
                shutdown_socket(self._response)
                return


def shutdown_socket(response: httpx2.Response) -> None:
    """Shut down the socket under a response so that blocked reads return at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:  # already closed by the other side
            pass
