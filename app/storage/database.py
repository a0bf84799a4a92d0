"""The database: binding it from DATABASE_URL, and the schema migrations (Alembic, through Flask-Migrate).

A pooled PostgreSQL connection is checked before each use without a round trip: an idle
connection has nothing to read until the server closes it (a restart, an administrator,
an idle timeout), so a zero-timeout poll of its socket tells (`_discard_closed_connection`).
SQLAlchemy's `pool_pre_ping` sent `SELECT 1` instead, at every checkout: two of the ten
round trips of an FAQ answer and ~4% of its CPU. SQLite (a file) needs no check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app.extensions import db, migrate
from app.utils.sockets import fileno_readable, os_poll

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def init_storage(app: Flask) -> None:
    """Bind the database (DATABASE_URL) and the migrations to the app."""
    url = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # hide_parameters: a failed statement's error (and so its logged traceback) never shows message text.
    options: dict[str, Any] = {"hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}  # wait for a writer instead of failing at once
    else:  # connections kept open: an overflow connection is closed when returned, a server process each time
        options.update(pool_size=app.config["DATABASE_POOL_SIZE"], max_overflow=app.config["DATABASE_MAX_OVERFLOW"])
        if options["pool_size"] < 1 or options["max_overflow"] < 0:
            raise ValueError("DATABASE_POOL_SIZE must be at least 1 and DATABASE_MAX_OVERFLOW at least 0")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))


def upgrade_schema(app: Flask) -> None:
    """Create the schema, or bring an existing one up to date, keeping its data."""
    with app.app_context():
        flask_migrate.upgrade(directory=str(MIGRATIONS))


@event.listens_for(Pool, "checkout")
def _discard_closed_connection(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Make the pool replace a PostgreSQL connection its server has closed (SQLAlchemy retries the checkout)."""
    if type(dbapi_connection).__module__.startswith("psycopg") and fileno_readable(
        dbapi_connection.fileno(), os_poll()
    ):
        raise exc.DisconnectionError("the server closed this idle connection")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite enforce foreign keys and let readers work while one request writes."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
