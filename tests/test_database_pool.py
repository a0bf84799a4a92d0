"""Pooled PostgreSQL connections: one its server closed is replaced before a request uses it; a pool needs room."""

from __future__ import annotations

import psycopg
import pytest
from flask import Flask

from app.storage.database import init_storage
from tests.support import empty_tables, wait_until

OTHER_CLIENTS = ("FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                 "AND backend_type = 'client backend'")


def test_connections_the_server_closed_are_replaced_before_a_request_uses_them(make_app, postgres_url):
    empty_tables(postgres_url)
    client = make_app(DATABASE_URL=postgres_url, RATE_LIMITS="100/minute").test_client()
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200  # pooled, idle now
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute(f"SELECT pg_terminate_backend(pid) {OTHER_CLIENTS}")  # as a restart would
        assert wait_until(lambda: admin.execute(f"SELECT count(*) {OTHER_CLIENTS}").fetchone()[0] == 0, timeout=10.0)

    answers = [client.post("/api/v1/chat", json={"message": "delivery hours"}) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]  # without the check, the first was a 500


@pytest.mark.parametrize(("size", "overflow"), [(0, 0), (5, -1)])
def test_a_pool_without_room_stops_the_app(size, overflow):
    app = Flask(__name__)
    app.config.update(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
                      DATABASE_POOL_SIZE=size, DATABASE_MAX_OVERFLOW=overflow)
    with pytest.raises(ValueError, match="DATABASE_POOL_SIZE"):
        init_storage(app)
