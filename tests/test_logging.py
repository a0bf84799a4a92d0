"""JSON log lines: one per request, chat fields, request ids, and no leaked handlers."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import structlog
from sqlalchemy import text

from app.extensions import db
from app.utils.logger import keyed_hash
from tests.deepseek_standin import Reply
from tests.support import read_log


def request_lines(log_file):
    return [line for line in read_log(log_file) if line["event"] == "request"]


def test_each_request_writes_one_json_line_with_its_fields(client, log_file):
    client.get("/health")
    client.get("/nope")

    lines = request_lines(log_file)
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/health", 200),
        ("GET", "unmatched", 404),
    ]
    for line in lines:
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["request_id"]
        assert line["level"] == "info"
        assert line["timestamp"].endswith("Z")


def test_every_line_in_the_file_is_json(client, standin, log_file):
    standin.push(Reply(status=500), Reply(content="ok"))
    client.post("/api/v1/chat", json={"message": "hello"})

    raw_lines = log_file.read_text(encoding="utf-8").splitlines()
    assert raw_lines
    for raw in raw_lines:
        json.loads(raw)


def test_chat_requests_log_the_answer_fields(client, standin, log_file):
    standin.push(Reply(content="Kale, yes.", model="deepseek-chat"))
    body = client.post("/api/v1/chat", json={"message": "kale?"}).get_json()

    [line] = request_lines(log_file)
    assert line["response_id"] == body["metadata"]["response_id"]
    assert line["source"] == "llm"
    assert line["model"] == "deepseek-chat"
    assert line["processing_time"] == body["metadata"]["processing_time"]
    assert line["error_code"] is None
    assert line["status"] == 200


def test_failed_chats_log_their_error_code(client, standin, log_file):
    standin.push(*[Reply(status=503)] * 3)
    client.post("/api/v1/chat", json={"message": "kale?"})
    client.post("/api/v1/chat", json={"message": " "})

    codes = [(line["status"], line["error_code"]) for line in request_lines(log_file)]
    assert codes == [(503, "UPSTREAM_BUSY"), (400, "EMPTY_QUERY_001")]


def test_the_request_id_is_taken_from_the_header_and_echoed(client, log_file):
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"
    assert request_lines(log_file)[0]["request_id"] == "abc-123"


def test_a_generated_request_id_when_none_or_an_unsafe_one_is_sent(client, log_file):
    plain = client.get("/health")
    unsafe = client.get("/health", headers={"X-Request-ID": "x" * 300})
    odd = client.get("/health", headers={"X-Request-ID": "a b\"}{"})

    ids = [r.headers["X-Request-ID"] for r in (plain, unsafe, odd)]
    assert len(set(ids)) == 3
    assert all(len(i) == 32 for i in ids)
    assert [line["request_id"] for line in request_lines(log_file)] == ids


def test_request_context_does_not_leak_into_the_next_request(client, standin, log_file):
    standin.push(Reply(content="Kale, yes."))
    client.post("/api/v1/chat", json={"message": "kale?"})
    client.get("/health")

    health = request_lines(log_file)[1]
    assert "response_id" not in health and "source" not in health


@pytest.mark.slow
def test_building_many_apps_neither_leaks_handlers_nor_duplicates_lines(make_app, log_file):
    for _ in range(20):
        app = make_app()

    ours = [h for h in logging.getLogger().handlers if getattr(h, "_greengrocer_handler", False)]
    assert len(ours) == 1
    app.test_client().get("/health")
    assert len(request_lines(log_file)) == 1


def test_replaced_file_handlers_are_closed(make_app):
    make_app()
    [first] = [h for h in logging.getLogger().handlers if getattr(h, "_greengrocer_handler", False)]
    make_app()

    assert first.stream is None or first.stream.closed


def test_log_to_stdout(make_app, capsys):
    make_app(LOG_FILE="", LOG_TO_STDOUT=True).test_client().get("/health")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["event"] == "request" and line["route"] == "/health" for line in lines)


def test_services_log_through_structlog(client):
    with structlog.testing.capture_logs() as logs:
        client.post("/api/v1/chat", json={"message": "delivery hours"})

    assert {"event": "faq_hit", "faq_id": "delivery-hours", "score": 1.0, "log_level": "info"} in logs


def test_a_missing_api_key_is_warned_about_at_start(make_app, log_file):
    make_app(DEEPSEEK_API_KEY="")

    [warning] = [line for line in read_log(log_file) if line["event"] == "deepseek_not_configured"]
    assert warning["level"] == "warning"


def test_external_rotation_uses_a_watched_file(make_app, log_file):
    from logging.handlers import WatchedFileHandler

    app = make_app(LOG_FILE_ROTATION="external")
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_greengrocer_handler", False)]
    app.test_client().get("/health")
    log_file.rename(log_file.with_suffix(".1"))  # what logrotate does
    app.test_client().get("/health")

    assert isinstance(handler, WatchedFileHandler)
    assert len(request_lines(log_file)) == 1  # the moved file was noticed and a new one started


def test_production_logs_json_to_stdout_by_default():
    from instance.config import ProductionConfig

    assert ProductionConfig.LOG_TO_STDOUT is True
    assert ProductionConfig.LOG_FILE == ""


def test_request_lines_log_the_route_template_never_the_raw_path(client, log_file):
    unknown = str(uuid.uuid4())

    client.get(f"/api/v1/conversations/{unknown}")
    client.delete(f"/api/v1/conversations/{unknown}")
    client.get(f"/no/such/page/{unknown}")

    routes = [(line["method"], line["route"]) for line in request_lines(log_file)]
    assert routes == [("GET", "/api/v1/conversations/<conversation_id>"),
                      ("DELETE", "/api/v1/conversations/<conversation_id>"), ("GET", "unmatched")]
    assert unknown not in log_file.read_text(encoding="utf-8")


def test_conversation_ids_are_logged_as_a_keyed_hash_only(make_app, standin, log_file):
    client = make_app(LOG_HASH_SALT="pepper").test_client()
    standin.push(Reply(content="Kale, yes."), Reply(content="Streamed kale."))

    first = client.post("/api/v1/chat", json={"message": "kale?"}).get_json()["conversation_id"]
    client.post("/api/v1/chat/stream", json={"message": "more kale?", "conversation_id": first}).get_data()
    client.get(f"/api/v1/conversations/{first}")
    client.delete(f"/api/v1/conversations/{first}")

    hashed = keyed_hash(first, "pepper")
    assert hashed != keyed_hash(first, "salt") and len(hashed) == 16
    with_id = [line for line in read_log(log_file) if "conversation_id" in line]
    assert {line["conversation_id"] for line in with_id} == {hashed}
    events = {line["event"] for line in with_id}
    assert {"request", "llm_call", "chat_stream_finished", "conversation_deleted"} <= events
    assert first not in log_file.read_text(encoding="utf-8")


def test_without_a_hash_key_production_warns_at_start(make_app, log_file):
    make_app(FLASK_ENV="production", LOG_HASH_SALT="")
    make_app(FLASK_ENV="production", LOG_HASH_SALT="a-long-random-secret")
    make_app(LOG_HASH_SALT="")  # testing: no warning

    [warning] = [line for line in read_log(log_file) if line["event"] == "log_hash_salt_missing"]
    assert warning["level"] == "warning"


def test_sql_errors_never_log_the_statement_parameters(app, log_file):
    with app.app_context():
        db.session.execute(text("DROP TABLE messages"))
        db.session.commit()

    response = app.test_client().post("/api/v1/chat", json={"message": "my secret kale question"})

    assert response.status_code == 500
    [logged] = [line for line in read_log(log_file) if line["event"] == "unhandled_exception"]
    assert "no such table: main.messages" in logged["exception"]  # the new conversation's INSERT checks its keys
    assert "my secret kale question" not in log_file.read_text(encoding="utf-8")


def test_a_value_orjson_refuses_is_still_logged_as_json(app, log_file):
    structlog.get_logger("test").info("huge_number", value=2**70)

    [line] = [line for line in read_log(log_file) if line["event"] == "huge_number"]
    assert line["value"] == 2**70
