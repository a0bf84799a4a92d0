"""Security headers, the HTTPS redirect in production, and rate limits."""

from __future__ import annotations

import uuid

import pytest

from tests.deepseek_standin import Reply
from tests.page_checks import STRICT_CSP
from tests.support import read_log


def csp_directives(response):
    """Return a response's Content-Security-Policy as {directive: value}."""
    parts = [part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")]
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts if part[0]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/health", None),
        ("post", "/api/v1/chat", {"message": "delivery hours"}),
        ("post", "/api/v1/chat", {"message": ""}),
        ("get", "/nope", None),
        ("get", "/apispec_1.json", None),
        ("get", "/", None),
        ("get", "/api/v1/conversations/3fa85f64-5717-4562-b3fc-2c963f66afa6", None),
    ],
)
def test_every_response_carries_the_security_headers(client, method, path, body):
    response = getattr(client, method)(path, json=body)

    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers  # testing config: no HSTS


def test_only_the_docs_page_gets_a_relaxed_csp_and_it_keeps_the_rest(client):
    docs = client.get("/apidocs/")
    csp = docs.headers["Content-Security-Policy"]

    assert csp_directives(docs) == {
        "default-src": "'self'", "img-src": "'self' data:",
        "base-uri": "'none'", "form-action": "'self'", "frame-ancestors": "'none'",
    }
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_conversation_reads_and_every_api_answer_are_never_stored_by_caches(client, standin):
    standin.push(Reply(content="Kale, yes."))
    answer = client.post("/api/v1/chat", json={"message": "kale?"})
    read = client.get(f"/api/v1/conversations/{answer.get_json()['conversation_id']}")
    missing = client.get("/api/v1/conversations/3fa85f64-5717-4562-b3fc-2c963f66afa6")
    stream = client.post("/api/v1/chat/stream", json={"message": "delivery hours"})

    assert read.status_code == 200
    assert [r.headers.get("Cache-Control") for r in (read, answer, missing)] == ["no-store"] * 3
    assert stream.headers["Cache-Control"] == "no-cache"  # server-sent events say so themselves
    assert "no-store" not in client.get("/health").headers.get("Cache-Control", "")


def test_production_redirects_plain_http_and_sends_hsts(make_app):
    client = make_app(FLASK_ENV="production").test_client()

    redirect = client.post("/api/v1/chat", json={"message": "hi"})
    secure = client.post("/api/v1/chat", json={"message": "delivery hours"}, base_url="https://localhost")
    behind_proxy = client.post(
        "/api/v1/chat", json={"message": "delivery hours"}, headers={"X-Forwarded-Proto": "https"}
    )

    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith("https://")
    assert secure.status_code == 200
    assert "max-age=" in secure.headers["Strict-Transport-Security"]
    assert behind_proxy.status_code == 200


def test_health_is_served_over_plain_http_in_production(make_app):
    client = make_app(FLASK_ENV="production").test_client()

    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_the_rate_limit_answers_429_with_retry_after_and_limit_headers(client):
    statuses = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(5)]
    limited = client.post("/api/v1/chat", json={"message": "delivery hours"})

    assert statuses == [200] * 5  # TestingConfig: 5 per minute
    assert limited.status_code == 429
    body = limited.get_json()
    assert body["error"]["code"] == "RATE_LIMIT_429"
    assert body["metadata"]["error_code"] == "RATE_LIMIT_429"
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 61
    assert f"{retry_after} second" in body["error"]["message"]
    assert limited.headers["X-RateLimit-Limit"] == "5"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0


def test_successful_answers_carry_limit_headers_but_no_retry_after(client):
    response = client.post("/api/v1/chat", json={"message": "delivery hours"})

    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert "Retry-After" not in response.headers


def test_rejected_requests_count_against_the_limit(client):
    for _ in range(5):
        client.post("/api/v1/chat", json={"message": ""})

    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 429


def test_the_limit_is_per_client_ip(client):
    for _ in range(5):
        client.post("/api/v1/chat", json={"message": "delivery hours"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})

    other = client.post("/api/v1/chat", json={"message": "delivery hours"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    same = client.post("/api/v1/chat", json={"message": "delivery hours"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})

    assert other.status_code == 200
    assert same.status_code == 429


def test_health_is_not_rate_limited(client):
    statuses = {client.get("/health").status_code for _ in range(20)}

    assert statuses == {200}
    assert "X-RateLimit-Limit" not in client.get("/health").headers


def test_rate_limits_come_from_config(make_app):
    client = make_app(RATE_LIMITS="2/minute;100/hour").test_client()

    statuses = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_limits_can_be_kept_in_redis(make_app, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    client = make_app(RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix).test_client()

    statuses = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]


def test_when_redis_goes_away_requests_are_still_served_and_a_warning_is_logged(make_app, private_redis, log_file):
    client = make_app(RATELIMIT_STORAGE_URI=private_redis.url, RATE_LIMITS="3/minute").test_client()
    shared = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(4)]

    private_redis.stop()
    during = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(4)]
    ready = client.get("/ready")

    assert shared == [200, 200, 200, 429]
    assert during == [200, 200, 200, 429]  # counted in this process's memory while Redis is away
    assert ready.status_code == 503 and ready.get_json()["checks"]["rate_limit_storage"] == "unavailable"
    [warning] = [line for line in read_log(log_file) if line["event"] == "rate_limit_storage_unreachable"]
    assert warning["level"] == "warning"
    assert "falling back to in-memory storage" in warning["detail"]
