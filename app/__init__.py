"""GreenGrocer Foods support chatbot: the application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from app.api import register_blueprints
from app.api.docs import init_docs
from app.cli import register_commands
from app.errors import register_error_handlers
from app.security import init_security
from app.services import init_services
from app.utils.logger import configure_logging, init_request_logging
from instance.config import Config, config_class, settings_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ConfigArg = str | type[Config] | Mapping[str, Any] | None


def create_app(config: ConfigArg = None) -> Flask:
    """Build the app.

    `config` is an environment or class name ("testing", "TestingConfig"), a Config
    class, or a mapping of overrides (its optional "FLASK_ENV" key picks the class).
    Without it, FLASK_ENV picks the class (default: production).
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # bodies keep the documented order: content, source, metadata
    load_config(app, config)
    configure_logging(app)
    init_request_logging(app)
    init_security(app)
    register_blueprints(app)
    register_error_handlers(app)
    init_docs(app)
    init_services(app)
    register_commands(app)
    return app


def load_config(app: Flask, config: ConfigArg) -> None:
    """Lay class defaults, then `.env.<env>` and real environment variables, then overrides."""
    overrides: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
    if isinstance(config, type):
        cls = config
    else:
        name = config if isinstance(config, str) else overrides.get("FLASK_ENV") or os.environ.get("FLASK_ENV")
        cls = config_class(name or "production")
    env_name = cls.__name__.removesuffix("Config").lower()
    load_dotenv(PROJECT_ROOT / f".env.{env_name}", override=False)  # real variables win
    app.config.update(settings_for(cls))
    app.config.update({key: value for key, value in overrides.items() if key != "FLASK_ENV"})
    app.config["ENV_NAME"] = env_name
