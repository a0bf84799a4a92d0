"""The database: binding it from DATABASE_URL, and the schema migrations (Alembic, through Flask-Migrate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def init_storage(app: Flask) -> None:
    """Bind the database (DATABASE_URL) and the migrations to the app."""
    url = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # hide_parameters: a failed statement's error (and so its logged traceback) never shows message text.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}  # wait for a writer instead of failing at once
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))


def upgrade_schema(app: Flask) -> None:
    """Create the schema, or bring an existing one up to date, keeping its data."""
    with app.app_context():
        flask_migrate.upgrade(directory=str(MIGRATIONS))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite enforce foreign keys and let readers work while one request writes."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
