"""Security headers on every response, from flask-talisman, and no caching of API answers.

Every page's Content-Security-Policy is `default-src 'self'` and forbids what no page of
ours needs: a `<base>` element (`base-uri 'none'`), forms posting elsewhere
(`form-action 'self'`) and being framed (`frame-ancestors 'none'`, as X-Frame-Options
DENY). Swagger UI draws its logo and icons from data: URIs, so its page, and no other,
also allows `img-src data:` (`docs_policy`). Its scripts and styles are files from 'self'.

Responses under /api/ carry personal data (questions, answers, conversations), so they
say `Cache-Control: no-store` unless the view chose otherwise (the event stream says
`no-cache` itself): no browser or proxy keeps a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from flask_talisman import Talisman

API_PREFIX = "/api/"
STRICT_DIRECTIVES = {
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
API_CSP = {"default-src": "'self'", **STRICT_DIRECTIVES}
DOCS_CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    **STRICT_DIRECTIVES,
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
    app.after_request(forbid_storing_api_answers)


def forbid_storing_api_answers(response: Response) -> Response:
    """Tell browsers and proxies not to keep API answers, unless the view set its own Cache-Control."""
    if request.path.startswith(API_PREFIX) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def plain_http_allowed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve this view over plain HTTP even when FORCE_HTTPS is on (health checks from a load balancer)."""
    view.talisman_view_options = {"force_https": False}  # type: ignore[attr-defined]
    return view


def docs_policy(view: Callable[..., Any]) -> Callable[..., Any]:
    """Give Swagger UI's page the CSP relaxations it needs, and no other page."""
    view.talisman_view_options = {"content_security_policy": DOCS_CSP}  # type: ignore[attr-defined]
    return view
