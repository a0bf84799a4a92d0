"""The HTTP transport under the openai client: httpx2's, with a keep-alive check that is cheap under gevent.

Whenever a request starts or a response closes, httpcore2's connection pool asks every
idle pooled connection whether the server has closed it (a zero-timeout `poll()` of its
socket). Under gevent's monkey-patching `select.poll` is gevent's cooperative version,
about 30 times dearer than the system call (45 µs against 1.5 µs here) and a trip
through the event loop; with the ~100 idle connections a busy worker keeps to DeepSeek,
that was a third of the CPU of an answer. A zero-timeout poll never blocks, so it can use
the operating system's `poll()` directly. Everything else (connecting, TLS, reading,
writing, timeouts) is httpx2's and httpcore2's own.
"""

from __future__ import annotations

import select
import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

import httpcore2
import httpx2
from openai import DEFAULT_CONNECTION_LIMITS, DefaultHttpxClient


def environment_proxies() -> dict[str, str]:
    """Return the proxies the environment names for HTTP(S) traffic (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)."""
    return {scheme: url for scheme, url in urllib.request.getproxies().items() if scheme in ("http", "https", "all")}


def os_poll() -> Callable[[], Any]:
    """Return the operating system's `select.poll`, even when gevent has patched the `select` module."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")
    return select.poll


def socket_readable(sock: socket.socket | None, poll: Callable[[], Any]) -> bool:
    """Return whether a socket has something to read (an idle one: the server closed it); never wait."""
    fileno = -1 if sock is None else sock.fileno()
    if fileno < 0:  # no socket any more: as good as closed
        return True
    poller = poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


class ProbedStream(httpcore2.NetworkStream):
    """httpcore2's network stream, but its readability probe is a plain system call."""

    def __init__(self, stream: httpcore2.NetworkStream, poll: Callable[[], Any]) -> None:
        self._stream = stream
        self._poll = poll

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read from the stream."""
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write to the stream."""
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        """Close the stream."""
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        """Wrap the stream in TLS; the TLS stream is probed the same way."""
        return ProbedStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._poll)

    def get_extra_info(self, info: str) -> Any:
        """Answer "is_readable" with a direct poll; anything else as httpcore2 does."""
        if info == "is_readable":
            return socket_readable(self._stream.get_extra_info("socket"), self._poll)
        return self._stream.get_extra_info(info)


class ProbedBackend(httpcore2.SyncBackend):
    """httpcore2's blocking (gevent-patched) network backend with the cheap readability probe."""

    def __init__(self) -> None:
        self._poll = os_poll()  # looked up when the client is built: after gevent has patched the workers

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        """Connect as httpcore2 does, and probe the connection cheaply."""
        return ProbedStream(super().connect_tcp(*args, **kwargs), self._poll)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:  # pragma: no cover
        """Connect as httpcore2 does, and probe the connection cheaply."""
        return ProbedStream(super().connect_unix_socket(*args, **kwargs), self._poll)


def deepseek_http_client() -> httpx2.Client:
    """Return the openai SDK's default HTTP client (its limits, timeouts, redirects), on the probed backend.

    httpx2's `HTTPTransport` takes no network backend, so it is set on the connection
    pool it builds, before any connection exists (httpcore2 reads it per new connection).
    A client with its own transport ignores HTTP(S)_PROXY, so where the environment names
    a proxy the SDK's plain default client is used instead (proxied, without the cheap probe).
    """
    if environment_proxies():
        return DefaultHttpxClient()
    transport = httpx2.HTTPTransport(limits=DEFAULT_CONNECTION_LIMITS)
    pool = transport._pool
    if not isinstance(pool, httpcore2.ConnectionPool) or not hasattr(pool, "_network_backend"):  # pragma: no cover
        raise RuntimeError("httpx2's transport changed: check app/services/http_transport.py")
    pool._network_backend = ProbedBackend()
    return DefaultHttpxClient(transport=transport)

