"""Swagger UI at /apidocs and the OpenAPI spec at /apispec_1.json (flasgger).

The spec is written out in `openapi.yaml`, one file that the tests hold against the
routes and that schemathesis holds against the running app. Swagger UI comes from
flasgger's own bundle; `templates/flasgger/index.html` replaces flasgger's page so
that it loads no Google Fonts and runs no inline script, and only that page gets
the CSP relaxations it needs (`docs_policy`).
"""

from __future__ import annotations

from flasgger import Swagger
from flask import Flask

from app.security.headers import docs_policy

SPEC_ROUTE = "/apispec_1.json"
DOCS_ROUTE = "/apidocs/"


def init_docs(app: Flask) -> None:
    """Serve the spec and Swagger UI; one Swagger per app, since it caches the spec."""
    config = {
        "openapi": "3.0.3",
        "headers": [],
        "specs": [
            {
                "endpoint": "apispec_1",
                "route": SPEC_ROUTE,
                "rule_filter": lambda rule: True,
                "model_filter": lambda tag: True,
            }
        ],
        "static_url_path": "/flasgger_static",
        "swagger_ui": True,
        "specs_route": DOCS_ROUTE,
        "title": "GreenGrocer Foods Support Chatbot API",
    }
    app.extensions["swagger"] = Swagger(app, config=config, template_file="api/openapi.yaml")
    docs_policy(app.view_functions["flasgger.apidocs"])
