"""CORS for frontends served from other origins, on /api/v1 only (flask-cors).

CORS_ORIGINS is a comma-separated list of origins (`https://shop.example.com`). In an
entry, `*` stands for one host label or a port (`http://localhost:*`,
`https://*.example.com`); `*` alone allows every origin. Empty (the production
default) allows none. Answers expose the headers a frontend reads (Retry-After,
X-Request-ID, X-RateLimit-*), and a preflight never counts against the rate limit:
the browser sends it on its own, before the request that does count.
"""

from __future__ import annotations

import re

from flask import Flask, request
from flask_cors import CORS

API_RESOURCES = r"/api/v1/.*"
EXPOSED_HEADERS = ["Retry-After", "X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
METHODS = ["GET", "POST", "PUT", "DELETE"]  # PUT: a customer rates an answer
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight answer


def init_cors(app: Flask) -> None:
    """Allow the configured origins to call /api/v1, preflight included; with none configured, allow none."""
    origins = allowed_origins(app.config["CORS_ORIGINS"])
    if not origins:
        return
    # Every option is passed explicitly: flask-cors would otherwise read CORS_* keys from app.config
    # itself, and CORS_ORIGINS there is our comma-separated string, not its format.
    CORS(
        app,
        resources={API_RESOURCES: {}},
        origins=origins,
        methods=METHODS,
        allow_headers="*",
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
        always_send=False,  # no Origin header, no CORS headers (never a list of who is allowed)
    )


def allowed_origins(setting: str) -> list[str | re.Pattern[str]]:
    """Turn CORS_ORIGINS into what flask-cors matches: "*" for every origin, else one anchored pattern each."""
    entries = [entry.strip().rstrip("/") for entry in setting.split(",") if entry.strip()]
    if "*" in entries:
        return ["*"]
    return [origin_pattern(entry) for entry in entries]


def origin_pattern(origin: str) -> re.Pattern[str]:
    """Match exactly this origin, case-insensitively; each `*` matches one host label or a port number."""
    wildcard = re.escape(origin).replace(r"\*", "[a-z0-9-]+")
    return re.compile(rf"{wildcard}\Z", re.IGNORECASE)


def is_preflight() -> bool:
    """Return whether the request is a CORS preflight (the rate limits do not count those)."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
