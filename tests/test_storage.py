"""The schema: migrations match the models, on SQLite and PostgreSQL; timestamps stay in UTC."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app.extensions import db
from app.storage.models import Base, Conversation
from tests.conftest import sqlite_or_postgres


database_url = pytest.fixture(params=["sqlite", "postgresql"])(sqlite_or_postgres)  # both databases


def test_the_migrations_build_exactly_the_models_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert differences == []


def test_naive_timestamps_are_refused(app):
    with app.app_context():
        db.session.add(Conversation(id="x", created_at=datetime(2026, 1, 1), last_message_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="timezone-aware"):
            db.session.commit()
        db.session.rollback()


def test_sqlite_enforces_foreign_keys(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'fk.db'}")
    with app.app_context():
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
