"""Routes for load balancers and monitoring: /health, /ready and /metrics; and request counting.

None of them is rate limited, and all are served over plain HTTP even with FORCE_HTTPS
(load balancers and Prometheus usually scrape inside the network).
"""

from __future__ import annotations

import hmac
import time

import structlog
from flask import Blueprint, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from app import metrics
from app.errors import Unauthorized
from app.extensions import db
from app.security.headers import plain_http_allowed
from app.services import handoff_service

log = structlog.get_logger(__name__)

operations_bp = Blueprint("operations", __name__)


@operations_bp.get("/health")
@plain_http_allowed
def health() -> Response:
    """Report that the process is up (liveness); touches no dependency."""
    return jsonify(status="ok")


@operations_bp.get("/ready")
@plain_http_allowed
def ready() -> tuple[Response, int]:
    """Report whether this instance can serve chats: database, rate-limit storage, DeepSeek key."""
    checks = {
        "database": _check(_database_answers),
        "rate_limit_storage": _check(current_app.extensions["rate_limits"].storage_answers),
        "deepseek": "ok" if current_app.config["DEEPSEEK_API_KEY"] else "not configured",
    }
    ok = all(state == "ok" for state in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


@operations_bp.get("/metrics")
@plain_http_allowed
def prometheus_metrics() -> Response:
    """Serve the metrics of every worker in Prometheus' text format."""
    token = current_app.config["METRICS_TOKEN"]
    sent = request.headers.get("Authorization", "").encode()
    if token and not hmac.compare_digest(sent, f"Bearer {token}".encode()):
        raise Unauthorized("Send the metrics token as 'Authorization: Bearer <token>'.")
    _check(handoff_service().count_waiting)  # the waiting gauge, counted in the database now
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


@operations_bp.after_app_request
def record_request_metrics(response: Response) -> Response:
    """Count every request of the app by route (the URL rule, not the raw path), method and status."""
    started = g.get("request_started")
    route = request.url_rule.rule if request.url_rule is not None else None
    metrics.record_request(route, request.method, response.status_code,
                           time.perf_counter() - started if started is not None else None)
    return response


def _database_answers() -> bool:
    db.session.execute(text("SELECT 1"))
    return True


def _check(probe) -> str:  # type: ignore[no-untyped-def]
    """Run a readiness probe; any failure is "unavailable" (and logged), never an error response."""
    try:
        return "ok" if probe() else "unavailable"
    except Exception as error:
        log.warning("readiness_check_failed", error_type=type(error).__name__)
        return "unavailable"
