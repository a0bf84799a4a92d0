"""Security headers on every response, from flask-talisman.

The API's Content-Security-Policy is `default-src 'self'`. Swagger UI draws its logo
and icons from data: URIs, so its page, and no other, also allows `img-src data:`
(`docs_policy`). Its scripts and styles are files from 'self'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_talisman import Talisman

API_CSP = {"default-src": "'self'"}
DOCS_CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
}


def init_headers(app: Flask) -> None:
    """Send CSP, X-Frame-Options, nosniff and Referrer-Policy; HTTPS redirect and HSTS when FORCE_HTTPS."""
    force_https = app.config["FORCE_HTTPS"]
    app.extensions["talisman"] = Talisman(
        app,
        force_https=force_https,
        strict_transport_security=force_https,
        session_cookie_secure=force_https,
        content_security_policy=API_CSP,
        frame_options="DENY",
        referrer_policy="no-referrer",
        x_content_type_options=True,
    )


def plain_http_allowed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve this view over plain HTTP even when FORCE_HTTPS is on (health checks from a load balancer)."""
    view.talisman_view_options = {"force_https": False}  # type: ignore[attr-defined]
    return view


def docs_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """Give Swagger UI's page the CSP relaxations it needs, and no other page."""
    view.talisman_view_options = {"content_security_policy": DOCS_CSP}  # type: ignore[attr-defined]
    return view
