"""/ready and /metrics."""

from __future__ import annotations

import re

import pytest

from app import create_app
from tests.deepseek_standin import Reply
from tests.support import free_port, read_log


def sample(text: str, name: str, **labels: str) -> float:
    """Return one sample's value from Prometheus text (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return 0.0


def test_ready_when_every_dependency_answers(client):
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "rate_limit_storage": "ok", "deepseek": "ok"},
    }


def test_not_ready_without_a_deepseek_key(make_app):
    response = make_app(DEEPSEEK_API_KEY="").test_client().get("/ready")

    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "rate_limit_storage": "ok", "deepseek": "not configured"},
    }


def test_not_ready_when_the_database_is_down(log_file, standin):
    app = create_app({
        "FLASK_ENV": "testing", "DEEPSEEK_API_KEY": "k", "LOG_FILE": str(log_file), "LOG_TO_STDOUT": False,
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere",
    })

    response = app.test_client().get("/ready")

    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "rate_limit_storage": "ok", "deepseek": "ok"}
    assert any(line["event"] == "readiness_check_failed" for line in read_log(log_file))


def test_not_ready_when_the_rate_limit_storage_is_down(make_app):
    app = make_app(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")

    response = app.test_client().get("/ready")

    assert response.status_code == 503
    assert response.get_json()["checks"]["rate_limit_storage"] == "unavailable"


def test_ready_and_health_are_not_rate_limited_and_allow_plain_http_in_production(make_app):
    client = make_app(FLASK_ENV="production").test_client()

    statuses = {client.get(path).status_code for path in ["/health", "/ready", "/metrics"] for _ in range(8)}

    assert statuses == {200}


def test_metrics_count_requests_answers_deepseek_calls_tokens_and_refusals(make_app, standin):
    app = make_app(RATE_LIMITS="4/minute")
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    standin.push(Reply(content="Kale!", usage={
        "prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
        "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36,
    }))

    client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"})
    client.post("/api/v1/chat", json={"message": "what are your delivery hours"})
    client.get("/api/v1/conversations/3fa85f64-5717-4562-b3fc-2c963f66afa6")
    client.post("/api/v1/chat", json={"message": " "})
    client.post("/api/v1/chat", json={"message": "what are your delivery hours"})  # the 5th: refused
    after = client.get("/metrics").get_data(as_text=True)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("http_requests_total", route="/api/v1/chat", method="POST", status="200") == 2
    assert delta("http_requests_total", route="/api/v1/chat", method="POST", status="400") == 1
    assert delta("http_requests_total", route="/api/v1/chat", method="POST", status="429") == 1
    assert delta("http_requests_total", route="/api/v1/conversations/<conversation_id>", method="GET",
                 status="404") == 1
    assert delta("http_request_duration_seconds_count", route="/api/v1/chat", method="POST") == 4
    assert delta("chat_answers_total", source="llm") == 1
    assert delta("chat_answers_total", source="faq") == 1
    assert delta("deepseek_calls_total", outcome="ok", mode="json") == 1
    assert delta("deepseek_call_duration_seconds_count", outcome="ok", mode="json") == 1
    assert delta("deepseek_tokens_total", kind="prompt") == 100
    assert delta("deepseek_tokens_total", kind="completion") == 7
    assert delta("deepseek_tokens_total", kind="cache_hit") == 64
    assert delta("rate_limited_requests_total") == 1


def test_failed_and_streamed_deepseek_calls_are_counted_by_outcome(client, standin):
    before = client.get("/metrics").get_data(as_text=True)
    standin.push(*[Reply(status=503)] * 3, Reply(content="Streamed kale."))

    client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"})
    client.post("/api/v1/chat/stream", json={"message": "Do you sell organic kale?"}).get_data()
    after = client.get("/metrics").get_data(as_text=True)

    assert sample(after, "deepseek_calls_total", outcome="upstream_busy", mode="json") - sample(
        before, "deepseek_calls_total", outcome="upstream_busy", mode="json") == 1
    assert sample(after, "deepseek_calls_total", outcome="ok", mode="stream") - sample(
        before, "deepseek_calls_total", outcome="ok", mode="stream") == 1


def test_unknown_paths_are_counted_under_one_label(client):
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")

    text = client.get("/metrics").get_data(as_text=True)

    assert sample(text, "http_requests_total", route="unmatched", method="GET", status="404") >= 2
    assert "/no/such/page" not in text


def test_metrics_token_is_required_when_set(make_app):
    client = make_app(METRICS_TOKEN="s3cret").test_client()

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})

    assert missing.status_code == 401 and missing.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert wrong.status_code == 401
    assert right.status_code == 200 and right.mimetype == "text/plain"
    assert "http_requests_total" in right.get_data(as_text=True)


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert "# TYPE http_requests_total counter" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_operations_routes_are_not_under_the_api_key(make_app, path):
    client = make_app(API_KEYS="k1").test_client()

    assert client.get(path).status_code == 200


def series(text: str, name: str) -> set[str]:
    """Return the label sets of one metric's samples in Prometheus text."""
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith(name + "{")}


def test_the_number_of_series_stays_bounded_whatever_clients_send(client):
    def send_garbage(count, start):
        for n in range(start, start + count):
            client.open(f"/no/such/page/{n}", method=f"FOO{n}")
            client.open("/health", method=f"BAR{n}")
            client.open(f"/api/v1/conversations/{n}", method=f"X-{n}")

    client.get("/metrics")  # its own series exists before the first count
    send_garbage(1, 0)
    after_one = client.get("/metrics").get_data(as_text=True)
    send_garbage(40, 1)
    after_many = client.get("/metrics").get_data(as_text=True)

    for name in ("http_requests_total", "http_request_duration_seconds_count"):
        assert series(after_many, name) == series(after_one, name)
    assert sample(after_many, "http_requests_total", route="unmatched", method="other", status="405") >= 41
    assert sample(after_many, "http_requests_total", route="unmatched", method="other", status="404") >= 41
    assert "FOO" not in after_many and "BAR" not in after_many and "X-1" not in after_many


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_standard_methods_keep_their_own_label(client, method):
    client.open("/health", method=method)

    text = client.get("/metrics").get_data(as_text=True)

    assert any(f'method="{method}"' in line for line in series(text, "http_requests_total"))
