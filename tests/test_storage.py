"""The schema: migrations match the models, on SQLite and PostgreSQL; timestamps stay in UTC."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.extensions import db
from app.storage.database import upgrade_schema
from app.storage.models import Base, Conversation
from tests.support import drop_everything, migrate

pytestmark = pytest.mark.both_databases


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A database without even the schema, so that every migration runs; PostgreSQL is left migrated after."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    drop_everything(database_url)
    try:
        yield database_url
    finally:  # whatever happened here, the tests after this one find the newest schema
        drop_everything(database_url)
        migrate(database_url)


def test_the_migrations_build_exactly_the_models_schema(make_app, empty_database_url):
    app = make_app(DATABASE_URL=empty_database_url)
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []

    upgrade_schema(app)

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
