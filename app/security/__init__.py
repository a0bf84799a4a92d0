"""Security for every response: headers (flask-talisman), rate limits (flask-limiter), CORS (flask-cors)."""

from __future__ import annotations

from flask import Flask

from app.security.cors import init_cors
from app.security.headers import init_headers
from app.security.rate_limits import init_rate_limits


def init_security(app: Flask) -> None:
    """Bind the security extensions to the app."""
    init_headers(app)
    init_rate_limits(app)
    init_cors(app)
