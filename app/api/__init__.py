"""HTTP in, HTTP out: the blueprints."""

from __future__ import annotations

from flask import Flask

from app.api.operations import operations_bp
from app.api.staff import staff_bp
from app.api.v1 import v1_bp
from app.web import web_bp


def register_blueprints(app: Flask) -> None:
    """Mount /health, /ready, /metrics, the chat page at /, the customer API at /api/v1, the staff one at /api/v1/staff."""
    app.register_blueprint(operations_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(v1_bp, url_prefix="/api/v1")
    app.register_blueprint(staff_bp, url_prefix="/api/v1/staff")
