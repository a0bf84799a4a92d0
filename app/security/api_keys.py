"""Optional client keys: with API_KEYS set, /api/v1 requires `Authorization: Bearer <key>`.

Keys are compared in constant time, every configured key each time, once per request. A
valid key has a rate-limit budget of its own (API_KEY_RATE_LIMITS), spent on top of the
client's (see app/security/rate_limits.py).
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from flask import Flask, current_app, g, request

from app.errors import Unauthorized


def init_api_keys(app: Flask) -> None:
    """Read API_KEYS (comma-separated) once."""
    app.extensions["api_keys"] = tuple(
        key.strip().encode() for key in app.config["API_KEYS"].split(",") if key.strip()
    )


def require_api_key() -> None:
    """Refuse an /api/v1 request without a valid key, when keys are configured (CORS preflights pass)."""
    if not current_app.extensions["api_keys"] or request.method == "OPTIONS":
        return
    key = valid_key()
    if key is None:
        raise Unauthorized()
    structlog.contextvars.bind_contextvars(api_key_id=key_id(key))


def valid_key() -> bytes | None:
    """Return the configured key the request presents as a bearer token, or None; looked up once per request."""
    if "api_key" not in g:
        g.api_key = _presented_key() if current_app.extensions["api_keys"] else None
    return g.api_key


def _presented_key() -> bytes | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    presented = token.strip().encode()
    if scheme.lower() != "bearer" or not presented:
        return None
    found = None
    for key in current_app.extensions["api_keys"]:  # no early exit: same work whichever key matches
        if hmac.compare_digest(presented, key):
            found = key
    return found


def key_id(key: bytes) -> str:
    """Return a short, non-secret id for a key, for logs and rate-limit counters."""
    return hashlib.sha256(key).hexdigest()[:12]
