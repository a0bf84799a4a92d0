"""Security for every response: proxies, headers (flask-talisman), rate limits (limits), API keys, CORS."""

from __future__ import annotations

from flask import Flask

from app.security.api_keys import init_api_keys
from app.security.cors import init_cors
from app.security.headers import init_headers
from app.security.proxies import init_proxies
from app.security.rate_limits import init_rate_limits


def init_security(app: Flask) -> None:
    """Bind the security extensions to the app."""
    init_proxies(app)
    init_headers(app)
    init_rate_limits(app)
    init_api_keys(app)
    init_cors(app)
