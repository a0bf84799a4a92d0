"""The schema: migrations match the models, on SQLite and PostgreSQL; timestamps stay in UTC."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.extensions import db
from app.storage.database import upgrade_schema
from app.storage.models import Base, Conversation
from tests.support import drop_everything, migrate, wait_until

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


def test_connections_the_server_closed_are_replaced_before_a_request_uses_them(make_app, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: a SQLite file has no server to close connections")
    client = make_app(RATE_LIMITS="100/minute").test_client()
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200  # pooled, idle now
    others = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        assert wait_until(lambda: admin.execute(others).fetchone()[0] == 0, timeout=10.0)

    answers = [client.post("/api/v1/chat", json={"message": "delivery hours"}) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
