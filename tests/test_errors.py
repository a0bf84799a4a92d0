"""Client errors and the unexpected: always the one JSON shape, never HTML or a traceback."""

from __future__ import annotations

import json

import pytest

from tests.support import read_log


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert b"<html" not in response.data.lower() and b"Traceback" not in response.data
    body = response.get_json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def assert_chat_error(response, status, code):
    body = assert_error(response, status, code)
    assert body["content"] == body["error"]["message"]
    assert body["metadata"]["error_code"] == code
    assert body["metadata"]["model"] is None
    return body


@pytest.mark.parametrize("message", ["", " ", "\n\t  \r\n"])
def test_empty_or_blank_message_is_empty_query(client, standin, message):
    response = client.post("/api/v1/chat", json={"message": message})

    assert_chat_error(response, 400, "EMPTY_QUERY_001")
    assert standin.requests == []


@pytest.mark.parametrize(
    "raw_body",
    [
        "{not json",
        '{"message": "unterminated',
        "",
        "[]",
        '["message"]',
        '"just a string"',
        "42",
        "null",
        "{}",
        '{"text": "hello"}',
        '{"message": 42}',
        '{"message": null}',
        '{"message": ["hello"]}',
        '{"message": {"text": "hello"}}',
        '{"message": true}',
    ],
)
def test_malformed_bodies_are_invalid_request(client, standin, raw_body):
    response = client.post("/api/v1/chat", data=raw_body, content_type="application/json")

    assert_chat_error(response, 400, "INVALID_REQUEST")
    assert standin.requests == []


def test_invalid_request_says_what_is_wrong(client):
    missing = client.post("/api/v1/chat", json={}).get_json()["error"]["message"]
    wrong_type = client.post("/api/v1/chat", json={"message": 1}).get_json()["error"]["message"]
    not_object = client.post("/api/v1/chat", json=[1]).get_json()["error"]["message"]

    assert "required" in missing
    assert "must be a string" in wrong_type
    assert "JSON object" in not_object


def test_body_that_is_not_utf8_is_invalid_request(client):
    response = client.post("/api/v1/chat", data=b'{"message": "\xff\xfe"}', content_type="application/json")

    assert_chat_error(response, 400, "INVALID_REQUEST")


def test_message_over_the_limit_is_message_too_long(make_app, standin):
    client = make_app(MAX_MESSAGE_CHARS=10).test_client()

    at_limit = client.post("/api/v1/chat", json={"message": "x" * 10})
    over = client.post("/api/v1/chat", json={"message": "x" * 11})

    assert at_limit.status_code == 200
    body = assert_chat_error(over, 400, "MESSAGE_TOO_LONG")
    assert "10" in body["error"]["message"]
    assert len(standin.requests) == 1


def test_default_message_limit_is_4000(client):
    assert client.application.config["MAX_MESSAGE_CHARS"] == 4000
    response = client.post("/api/v1/chat", json={"message": "x" * 4001})

    assert_chat_error(response, 400, "MESSAGE_TOO_LONG")


def test_body_over_max_content_length_is_413(client, standin):
    assert client.application.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    payload = json.dumps({"message": "x" * (64 * 1024)})

    response = client.post("/api/v1/chat", data=payload, content_type="application/json")

    assert_chat_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert standin.requests == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"message": "hello"}', "text/plain"),
        ("message=hello", "application/x-www-form-urlencoded"),
        ('{"message": "hello"}', None),
    ],
)
def test_non_json_content_type_is_415(client, standin, data, content_type):
    response = client.post("/api/v1/chat", data=data, content_type=content_type)

    assert_chat_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert standin.requests == []


def test_json_with_charset_is_accepted(client):
    response = client.post(
        "/api/v1/chat", data='{"message": "delivery hours"}', content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/chat", "/static/missing.js"])
def test_unknown_path_is_404(client, path):
    assert_error(client.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_wrong_method_is_405_with_allow(client, method):
    response = getattr(client, method)("/api/v1/chat")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_unexpected_error_is_a_bare_500_and_logged_with_traceback(app, log_file, monkeypatch):
    def broken_answer(message):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(app.extensions["chatbot"], "answer", broken_answer)

    response = app.test_client().post("/api/v1/chat", json={"message": "hello"})

    body = assert_chat_error(response, 500, "INTERNAL_ERROR")
    assert b"hunter2" not in response.data and b"RuntimeError" not in response.data
    assert "hunter2" not in body["error"]["message"]
    [logged] = [line for line in read_log(log_file) if line["event"] == "unhandled_exception"]
    assert logged["level"] == "error"
    assert "RuntimeError: database password is hunter2" in logged["exception"]


def test_other_http_errors_keep_the_json_shape(app):
    @app.get("/teapot")
    def teapot():
        from werkzeug.exceptions import ImATeapot

        raise ImATeapot()

    response = app.test_client().get("/teapot")

    assert_error(response, 418, "IM_A_TEAPOT")


def test_an_error_carries_its_own_extra_fields_and_headers(app):
    from app.errors import APIError

    @app.get("/extra")
    def extra():
        raise APIError("Not now.", retry_after=7, headers={"X-Hint": "later"}, extra={"hint": "try later"})

    response = app.test_client().get("/extra")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body == {"error": {"code": "INTERNAL_ERROR", "message": "Not now."}, "hint": "try later"}
    assert response.headers["Retry-After"] == "7" and response.headers["X-Hint"] == "later"


@pytest.mark.parametrize("method", ["get", "delete"])
def test_conversation_errors_are_plain_errors_without_chat_fields(make_app, method):
    client = make_app(API_KEYS="key-0123456789abcdef").test_client()
    path = "/api/v1/conversations/3fa85f64-5717-4562-b3fc-2c963f66afa6"

    unauthorized = getattr(client, method)(path)
    unknown = getattr(client, method)(path, headers={"Authorization": "Bearer key-0123456789abcdef"})

    assert set(assert_error(unauthorized, 401, "UNAUTHORIZED")) == {"error"}
    assert set(assert_error(unknown, 404, "CONVERSATION_NOT_FOUND")) == {"error"}


def test_chat_stream_errors_before_the_stream_carry_chat_fields(client, standin):
    too_large = client.post("/api/v1/chat/stream", data=json.dumps({"message": "x" * 70000}),
                            content_type="application/json")
    not_json = client.post("/api/v1/chat/stream", data="hi", content_type="text/plain")

    assert_chat_error(too_large, 413, "PAYLOAD_TOO_LARGE")
    assert_chat_error(not_json, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert standin.requests == []
