"""Swagger UI at /apidocs and the OpenAPI spec at /apispec_1.json (flasgger).

The spec is written out in `openapi.yaml`, one file that the tests hold against the
routes and that schemathesis holds against the running app. Swagger UI is a current
swagger-ui-dist vendored in `app/vendor/swagger-ui/` (flasgger's own bundle is years
old), served as flasgger's static folder at /flasgger_static/; `templates/flasgger/
index.html` replaces flasgger's page so that it loads no Google Fonts and runs no
inline script, and only that page gets the CSP relaxations it needs (`docs_policy`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from flasgger import Swagger
from flask import Flask

from app.security.headers import docs_policy

SPEC_FILE = Path(__file__).with_name("openapi.yaml")
SPEC_ROUTE = "/apispec_1.json"
DOCS_ROUTE = "/apidocs/"
SWAGGER_UI_DIR = Path(__file__).resolve().parent.parent / "vendor" / "swagger-ui"
SWAGGER_UI_VERSION = "5.35.0"  # npm's swagger-ui-dist; to update, see the README beside the files


def load_spec() -> dict[str, Any]:
    """Return the parsed spec; libyaml, when PyYAML has it, parses it ten times faster than flasgger would."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=loader)


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
        "static_folder": str(SWAGGER_UI_DIR),
        "swagger_ui": True,
        "specs_route": DOCS_ROUTE,
        "title": "GreenGrocer Foods Support Chatbot API",
    }
    app.extensions["swagger"] = Swagger(app, config=config, template=load_spec())
    docs_policy(app.view_functions["flasgger.apidocs"])
