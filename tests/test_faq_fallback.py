"""Degraded mode: when DeepSeek cannot answer, a related FAQ answers instead of the error."""

from __future__ import annotations

import pytest

from tests.deepseek_standin import Reply
from tests.support import read_log, shipped_answers

ANSWERS = shipped_answers()

RELATED_QUESTION = "the strawberries were moldy"  # below the direct bar, above the fallback bar
UNRELATED_QUESTION = "Do you sell organic kale?"

FAILURES = {
    "LLM_NOT_CONFIGURED": ({"DEEPSEEK_API_KEY": ""}, []),
    "UPSTREAM_BUSY": ({}, [Reply(status=503)] * 3),
    "UPSTREAM_ERROR": ({}, [Reply(status=500)] * 3),
    "UPSTREAM_TIMEOUT": ({"DEEPSEEK_TIMEOUT": 0.5}, [Reply(delay=2.0)]),
    "UPSTREAM_UNAVAILABLE": ({}, [Reply(status=401)]),
}
STATUSES = {"LLM_NOT_CONFIGURED": 503, "UPSTREAM_BUSY": 503, "UPSTREAM_ERROR": 502, "UPSTREAM_TIMEOUT": 504,
            "UPSTREAM_UNAVAILABLE": 503}


def failing_client(make_app, standin, code):
    overrides, replies = FAILURES[code]
    standin.push(*replies)
    return make_app(**overrides).test_client()


def test_the_question_used_here_is_only_a_fallback_match(app):
    with app.app_context():
        faq = app.extensions["chatbot"].faq

    assert faq.match(RELATED_QUESTION) is None
    assert faq.fallback(RELATED_QUESTION).entry.id == "damaged-missing-items"
    assert faq.fallback(UNRELATED_QUESTION) is None


@pytest.mark.parametrize("code", list(FAILURES))
def test_a_failed_model_call_is_answered_from_the_closest_faq(make_app, standin, log_file, code):
    client = failing_client(make_app, standin, code)

    response = client.post("/api/v1/chat", json={"message": RELATED_QUESTION})

    assert response.status_code == 200
    assert "Retry-After" not in response.headers
    body = response.get_json()
    assert body["source"] == "faq_fallback"
    assert body["content"].startswith(ANSWERS["damaged-missing-items"])
    assert client.application.config["SUPPORT_CONTACT"] in body["content"]
    assert body["metadata"]["model"] is None
    assert body["metadata"]["error_code"] is None
    lines = read_log(log_file)
    [event] = [line for line in lines if line["event"] == "faq_fallback"]
    assert (event["faq_id"], event["error_code"], event["level"]) == ("damaged-missing-items", code, "warning")
    [request] = [line for line in lines if line["event"] == "request"]
    assert (request["status"], request["source"], request["error_code"]) == (200, "faq_fallback", None)


@pytest.mark.parametrize("code", list(FAILURES))
def test_without_a_related_faq_the_error_stands(make_app, standin, code):
    client = failing_client(make_app, standin, code)

    response = client.post("/api/v1/chat", json={"message": UNRELATED_QUESTION})

    assert response.status_code == STATUSES[code]
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["metadata"]["error_code"] == code


def test_the_fallback_sentence_is_left_out_without_a_support_contact(make_app, standin):
    client = make_app(DEEPSEEK_API_KEY="", SUPPORT_CONTACT="").test_client()

    body = client.post("/api/v1/chat", json={"message": RELATED_QUESTION}).get_json()

    assert body["content"] == ANSWERS["damaged-missing-items"]


@pytest.mark.parametrize("code", ["UPSTREAM_BUSY", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT", "UPSTREAM_UNAVAILABLE"])
def test_a_stream_whose_model_fails_before_writing_falls_back_to_the_faq(make_app, standin, code):
    from tests import sse

    client = failing_client(make_app, standin, code)

    response = client.post("/api/v1/chat/stream", json={"message": RELATED_QUESTION})

    events = sse.parse(response.get_data(as_text=True))
    assert [e.event for e in events if e.event != ":"] == ["meta", "delta", "done"]
    assert events[-1].data["source"] == "faq_fallback"
    assert [e for e in events if e.event == "delta"][0].data["content"].startswith(ANSWERS["damaged-missing-items"])
    stored = client.get(f"/api/v1/conversations/{events[0].data['conversation_id']}").get_json()["messages"]
    assert [(m["role"], m["source"], m["error_code"]) for m in stored] == [
        ("user", None, None), ("assistant", "faq_fallback", None),
    ]


def test_a_stream_without_a_key_falls_back_or_is_refused_before_it_starts(make_app, standin):
    from tests import sse

    client = make_app(DEEPSEEK_API_KEY="", RATE_LIMITS="100/minute").test_client()

    related = client.post("/api/v1/chat/stream", json={"message": RELATED_QUESTION})
    unrelated = client.post("/api/v1/chat/stream", json={"message": UNRELATED_QUESTION})

    assert sse.parse(related.get_data(as_text=True))[-1].data["source"] == "faq_fallback"
    assert unrelated.status_code == 503 and unrelated.get_json()["error"]["code"] == "LLM_NOT_CONFIGURED"


def test_a_stream_that_breaks_after_writing_is_an_error_not_a_fallback(client, standin):
    from tests import sse

    standin.push(Reply(content="The berries should be refunded, and", chunk_size=6, cut_after=2))

    events = sse.parse(client.post("/api/v1/chat/stream", json={"message": RELATED_QUESTION}).get_data(as_text=True))

    assert [e.event for e in events] == ["meta", "delta", "delta", "error"]
    assert events[-1].data["error"]["code"] == "UPSTREAM_ERROR"
