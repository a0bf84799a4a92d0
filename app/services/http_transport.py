"""The connection pool to DeepSeek: httpcore2's, with TLS, the environment's proxy and a cheap keep-alive check.

The pool is built through httpcore2's public API only: `ConnectionPool(ssl_context=...,
proxy=..., network_backend=...)`. What the openai SDK's default client gave us, kept:
- TLS with certificate verification, trusting what httpx2 trusts (`httpcore2.default_ssl_context()`:
  SSL_CERT_FILE / SSL_CERT_DIR, else the system store via truststore);
- HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (and NO_PROXY) from the environment, with credentials
  in the proxy URL; an https:// base URL is tunnelled with CONNECT;
- keep-alive: up to 1,000 connections at once per pool (see Shards), 100 kept idle for 5 s (the SDK's limits).

The keep-alive check: whenever a request starts or a response closes, httpcore2's pool asks
every idle pooled connection whether the server has closed it (a zero-timeout `poll()` of
its socket). Under gevent's monkey-patching `select.poll` is gevent's cooperative version,
about 30 times dearer than the system call (45 µs against 1.5 µs here) and a trip through
the event loop; with the ~100 idle connections a busy worker keeps to DeepSeek, that was a
third of the CPU of an answer. A zero-timeout poll never blocks, so `ProbedBackend` asks
the operating system's `poll()` directly (app/utils/sockets.py). Everything else
(connecting, TLS, reading, writing, timeouts) is httpcore2's own.

Shards (`PoolShards`): at every request's start and end, httpcore2's pool walks every
connection it holds (closed? expired? idle? available?) in Python, so at 200 calls at once
its bookkeeping was ~35% of a call's CPU (~200 µs of 570). The client holds POOL_SHARDS
pools, and a thread or greenlet always uses the same one: each walk is an eighth as long, and one
caller's calls still reuse one connection. The shards split the idle connections kept, not the cap
on connections: identities do not spread evenly, and with 1,000 streams at once in a worker a shard
capped at its eighth (125) held some calls back until another stream ended (seconds; the bench's
stand-in saw 1,904 of 2,000 streams at once). Each shard may open MAX_CONNECTIONS; what bounds a
process's connections to DeepSeek is its requests at once (one call each: threads, or gevent's
GUNICORN_WORKER_CONNECTIONS).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import cache
from typing import Any

import httpcore2

from app.utils.sockets import fileno_readable, os_poll

MAX_CONNECTIONS = 1000
MAX_IDLE_CONNECTIONS = 100
IDLE_SECONDS = 5.0
POOL_SHARDS = 8
PROXY_SCHEMES = ("http", "https")


def connection_pool(base_url: str, shares: int = 1) -> httpcore2.ConnectionPool:
    """Return a keep-alive connection pool for `base_url`, verified TLS, through the environment's proxy if any.

    With `shares`, the pool is one of that many sharing the idle connections kept (each may open MAX_CONNECTIONS).
    """
    ssl_context = verifying_ssl_context()
    return httpcore2.ConnectionPool(
        ssl_context=ssl_context,
        proxy=environment_proxy(base_url, ssl_context),
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=max(1, MAX_IDLE_CONNECTIONS // shares),
        keepalive_expiry=IDLE_SECONDS,
        network_backend=ProbedBackend(),
    )


class PoolShards:
    """Connection pools for `base_url`, one per thread or greenlet by its identity (see the module's docstring)."""

    def __init__(self, base_url: str, shards: int = POOL_SHARDS) -> None:
        self.pools = [connection_pool(base_url, shards) for _ in range(shards)]

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        """Send a request through this caller's pool."""
        # Identities are object addresses: Fibonacci hashing spreads their aligned values over the shards.
        return self.pools[(threading.get_ident() * 0x9E3779B97F4A7C15 >> 40) % len(self.pools)].handle_request(request)

    def close(self) -> None:
        """Close every pool's connections."""
        for pool in self.pools:
            pool.close()


def verifying_ssl_context() -> ssl.SSLContext:
    """Return `httpcore2.default_ssl_context()`, built once per trust setting: each build reads the CA store (25 ms)."""
    return _ssl_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@cache
def _ssl_context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """Build the context; the variables it reads are the cache key, so a changed setting gets its own."""
    return httpcore2.default_ssl_context()


def environment_proxy(url: str, ssl_context: ssl.SSLContext | None = None) -> httpcore2.Proxy | None:
    """Return the proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY honoured)."""
    target = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    named = proxies.get(target.scheme) or proxies.get("all")
    if not named or urllib.request.proxy_bypass_environment(target.netloc, proxies):
        return None
    proxy = urllib.parse.urlsplit(named if "://" in named else f"http://{named}")
    if proxy.scheme not in PROXY_SCHEMES or not proxy.hostname:
        raise ValueError(f"the proxy for DeepSeek must be an http:// or https:// URL, not {proxy.scheme}://")
    auth = None
    if proxy.username is not None:
        auth = (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ""))
    port = f":{proxy.port}" if proxy.port else ""
    return httpcore2.Proxy(f"{proxy.scheme}://{proxy.hostname}{port}", auth=auth, ssl_context=ssl_context)


def socket_readable(sock: socket.socket | None, poll: Callable[[], Any]) -> bool:
    """Return whether a socket has something to read (an idle one: the server closed it); never wait."""
    return fileno_readable(-1 if sock is None else sock.fileno(), poll)


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
        self._poll = os_poll()  # looked up when the pool is built: after gevent has patched the workers

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:
        """Connect as httpcore2 does, and probe the connection cheaply."""
        return ProbedStream(super().connect_tcp(*args, **kwargs), self._poll)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.NetworkStream:  # pragma: no cover
        """Connect as httpcore2 does, and probe the connection cheaply."""
        return ProbedStream(super().connect_unix_socket(*args, **kwargs), self._poll)
