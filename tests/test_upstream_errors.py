"""Every upstream row of the error table, through HTTP against the stand-in."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests import sse
from tests.deepseek_standin import Reply
from tests.support import API_KEY, free_port, read_log

SECRET_ERROR_TEXT = "internal shard 7 exploded: token sk-upstream-secret"


def chat(client, message="Do you sell organic kale?"):
    return client.post("/api/v1/chat", json={"message": message})


def assert_chat_error(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["content"] == body["error"]["message"]
    assert body["metadata"]["error_code"] == code
    assert SECRET_ERROR_TEXT.encode() not in response.data
    assert b"Traceback" not in response.data
    return body


@pytest.mark.parametrize("status", [429, 503])
def test_deepseek_busy_after_retries_is_503_upstream_busy(client, standin, status):
    standin.push(*[Reply(status=status, error=SECRET_ERROR_TEXT)] * 3)

    response = chat(client)

    assert_chat_error(response, 503, "UPSTREAM_BUSY")
    assert int(response.headers["Retry-After"]) >= 1
    assert len(standin.requests) == 3  # the first try and DEEPSEEK_MAX_RETRIES=2 retries


@pytest.mark.parametrize(
    ("asked", "passed_on"),
    [("17", "17"), ("0.4", "1"), ("600", "60"), ("Wed, 21 Oct 2026 07:28:00 GMT", "5")],  # seconds: 1..60, else 5
)
def test_deepseek_retry_after_is_passed_on_to_the_client(make_app, standin, asked, passed_on):
    client = make_app(DEEPSEEK_MAX_RETRIES=0).test_client()
    standin.push(Reply(status=429, headers={"Retry-After": asked}))

    response = chat(client)

    assert_chat_error(response, 503, "UPSTREAM_BUSY")
    assert response.headers["Retry-After"] == passed_on


def test_a_retry_after_longer_than_the_deadline_is_not_waited_for(make_app, standin):
    client = make_app(DEEPSEEK_TIMEOUT=1.0).test_client()
    standin.push(Reply(status=503, headers={"Retry-After": "30"}))

    started = time.monotonic()
    response = chat(client)

    assert time.monotonic() - started < 10.0  # nowhere near the 30 s asked for
    assert_chat_error(response, 503, "UPSTREAM_BUSY")
    assert len(standin.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_deepseek_server_errors_after_retries_are_502(client, standin, status):
    standin.push(*[Reply(status=status, error=SECRET_ERROR_TEXT)] * 3)

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")
    assert len(standin.requests) == 3


@pytest.mark.parametrize("status", [400, 422])
def test_deepseek_rejecting_the_request_is_502_without_retry(client, standin, status):
    standin.push(Reply(status=status, error=SECRET_ERROR_TEXT))

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")
    assert len(standin.requests) == 1


@pytest.mark.parametrize("status", [401, 402])
def test_bad_key_or_no_balance_is_503_upstream_unavailable_without_retry(client, standin, status):
    standin.push(Reply(status=status, error=SECRET_ERROR_TEXT))

    assert_chat_error(chat(client), 503, "UPSTREAM_UNAVAILABLE")
    assert len(standin.requests) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"not json at all",
        b'{"id": "x", "object": "chat.completion"}',
        b'{"id": "x", "choices": [], "model": "m", "object": "chat.completion", "created": 1}',
        b"[1, 2, 3]",
    ],
)
def test_unreadable_200_answers_are_502(client, standin, raw):
    standin.push(Reply(raw=raw, raw_content_type="text/html"))

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")
    assert len(standin.requests) == 1


def test_an_empty_answer_is_502(client, standin):
    standin.push(Reply(content="", reasoning="thought a lot", finish_reason="length"))

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")


def test_connection_dropped_without_answer_is_502_after_retries(client, standin):
    standin.push(*[Reply(drop=True)] * 3)

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")
    assert len(standin.requests) == 3


def test_connection_refused_is_502(make_app):
    client = make_app(DEEPSEEK_BASE_URL=f"http://127.0.0.1:{free_port()}").test_client()

    assert_chat_error(chat(client), 502, "UPSTREAM_ERROR")


def test_a_slow_answer_is_504_at_the_deadline(make_app, standin):
    client = make_app(DEEPSEEK_TIMEOUT=0.5).test_client()
    standin.push(Reply(delay=10.0))

    started = time.monotonic()
    response = chat(client)

    assert time.monotonic() - started < 5.0
    assert_chat_error(response, 504, "UPSTREAM_TIMEOUT")


def test_queue_keepalives_do_not_extend_the_deadline(make_app, standin):
    """DeepSeek's blank-line keep-alives reset a read timeout; the deadline must still hold."""
    client = make_app(DEEPSEEK_TIMEOUT=1.0).test_client()
    standin.push(Reply(keepalives=100, keepalive_interval=0.1))  # 10 s of keep-alives

    started = time.monotonic()
    response = chat(client)
    elapsed = time.monotonic() - started

    assert_chat_error(response, 504, "UPSTREAM_TIMEOUT")
    assert 0.9 < elapsed < 5.0  # waited for the deadline, and not for the keep-alives


def test_no_api_key_is_503_llm_not_configured(make_app, standin):
    client = make_app(DEEPSEEK_API_KEY="").test_client()

    assert_chat_error(chat(client), 503, "LLM_NOT_CONFIGURED")
    assert standin.requests == []


def test_the_api_key_never_reaches_the_log(client, standin, log_file):
    standin.push(Reply(status=401, error=SECRET_ERROR_TEXT))
    chat(client)
    standin.push(Reply(content="fine"))
    chat(client)

    assert API_KEY not in log_file.read_text(encoding="utf-8")
    lines = read_log(log_file)
    [failure] = [line for line in lines if line["event"] == "llm_http_error"]
    assert failure["status"] == 401 and failure["level"] == "warning"
    assert any(line["event"] == "llm_call" for line in lines)


FRAMINGS = ["chunked", "length", "close"]  # how DeepSeek's body ends: last chunk, Content-Length, or connection close


def stream_events(client, message="Do you sell organic kale?"):
    return sse.parse(client.post("/api/v1/chat/stream", json={"message": message}).get_data(as_text=True))


@pytest.mark.parametrize("framing", FRAMINGS)
def test_an_answer_kept_alive_past_the_deadline_is_504_whatever_its_framing(make_app, standin, framing):
    """A close-delimited body cut by the deadline ends like a whole one; the watchdog having fired decides."""
    client = make_app(DEEPSEEK_TIMEOUT=0.8).test_client()
    standin.push(Reply(keepalives=100, keepalive_interval=0.1, framing=framing))  # 10 s of blank lines

    started = time.monotonic()
    response = chat(client)
    elapsed = time.monotonic() - started

    assert_chat_error(response, 504, "UPSTREAM_TIMEOUT")
    assert 0.7 < elapsed < 5.0
    assert len(standin.requests) == 1  # a timeout is not retried


@pytest.mark.parametrize("framing", FRAMINGS)
def test_an_answer_in_time_is_read_whatever_its_framing(client, standin, framing):
    standin.push(Reply(content="Yes, organic kale is in stock.", keepalives=3, framing=framing))

    response = chat(client)

    assert response.status_code == 200
    assert response.get_json()["content"] == "Yes, organic kale is in stock."


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize(
    ("stall", "reply"),
    [
        ("queued", Reply(keepalives=100, keepalive_interval=0.1)),  # `: keep-alive` for 10 s, no token
        ("idle", Reply(content="Kale is in stock " * 2, chunk_size=17, hold_after=1)),  # silent after one piece
    ],
)
def test_a_stream_stalled_past_the_deadline_ends_with_upstream_timeout(make_app, standin, framing, stall, reply):
    """Queued: nothing but keep-alive comments; idle: the stream has begun, then no event comes in time."""
    client = make_app(DEEPSEEK_TIMEOUT=0.8).test_client()
    standin.push(dataclasses.replace(reply, framing=framing))

    started = time.monotonic()
    events = stream_events(client)

    assert time.monotonic() - started < 5.0
    kinds = [event.event for event in events if event.event != ":"]
    assert kinds[0] == "meta" and kinds[-1] == "error"
    assert events[-1].data["error"]["code"] == "UPSTREAM_TIMEOUT"


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_stream_in_time_is_whole_whatever_its_framing(client, standin, framing):
    standin.push(Reply(content="Kale, chard and spinach are in stock.", chunk_size=6, keepalives=2, framing=framing))

    events = stream_events(client)

    assert events[-1].event == "done" and events[-1].data["source"] == "llm"
    assert "".join(e.data["content"] for e in events if e.event == "delta") == "Kale, chard and spinach are in stock."

