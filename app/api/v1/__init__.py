"""Version 1 of the public API, mounted at /api/v1 and rate limited as one budget per client."""

from __future__ import annotations

from flask import Blueprint

from app.extensions import limiter
from app.security.rate_limits import api_rate_limits

v1_bp = Blueprint("v1", __name__)
limiter.shared_limit(api_rate_limits, scope="api")(v1_bp)

from app.api.v1 import chat, conversations  # noqa: E402,F401  (registers the routes)
