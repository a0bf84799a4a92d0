"""Rate limits per client, from flask-limiter, and the X-RateLimit-* headers.

RATE_LIMITS (e.g. "200/hour;50/minute") is one budget per client (API key, else IP)
shared by every route under /api/v1, counted in a moving window in
RATELIMIT_STORAGE_URI: `memory://` counts per process, `redis://` across processes and
machines. If Redis becomes unreachable, requests are still served: each process counts
in memory until Redis answers again, and flask-limiter logs a warning (never a 500).
"""

from __future__ import annotations

import logging

import structlog
from flask import Flask, Response, current_app

from app.extensions import limiter

log = structlog.get_logger(__name__)


def api_rate_limits() -> str:
    """Return the configured limits; read per request so each app uses its own config."""
    return current_app.config["RATE_LIMITS"]


def init_rate_limits(app: Flask) -> None:
    """Bind the limiter to the app, once, and add the rate-limit headers to limited responses."""
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # a storage failure must not become a 500
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        # Fail over within half a second instead of hanging every request on a dead Redis.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
    # Its "ratelimit exceeded" lines carry the client's address; 429s are in the request log anyway.
    logging.getLogger("flask-limiter").setLevel(logging.WARNING)
    app.after_request(add_rate_limit_headers)
    limiter.init_app(app)


def add_rate_limit_headers(response: Response) -> Response:
    """Tell the client its limit, what is left and when the window resets."""
    limit = limiter.current_limit
    if limit is None:
        return response
    try:
        reset_at, remaining = limit.reset_at, limit.remaining
    except Exception:  # storage unreachable: the response matters more than its headers
        log.exception("rate_limit_headers_failed")
        return response
    response.headers["X-RateLimit-Limit"] = str(limit.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    return response
