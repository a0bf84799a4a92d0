"""Version 1 of the public API, mounted at /api/v1: one rate-limit budget per client, API keys if configured."""

from __future__ import annotations

from flask import Blueprint

from app.extensions import limiter
from app.security.api_keys import client_identity, require_api_key
from app.security.rate_limits import api_rate_limits

v1_bp = Blueprint("v1", __name__)
limiter.shared_limit(api_rate_limits, scope="api", key_func=client_identity)(v1_bp)
v1_bp.before_request(require_api_key)

from app.api.v1 import chat, conversations  # noqa: E402,F401  (registers the routes)
