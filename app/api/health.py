"""Liveness: answers without touching any dependency."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.security.headers import plain_http_allowed

health_bp = Blueprint("health", __name__)


@health_bp.get("/health")
@plain_http_allowed
def health() -> Response:
    """Report that the process is up."""
    return jsonify(status="ok")
