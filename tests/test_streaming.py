"""POST /api/v1/chat/stream: answers as server-sent events, through the stand-in and a live server."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.storage.models import Message
from tests import sse
from tests.deepseek_standin import Reply
from tests.prompts import conversation
from tests.support import read_log, wait_until


def stream(client, message, conversation_id=None):
    body = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return client.post("/api/v1/chat/stream", json=body)


def stored(app, conversation_id):
    with app.app_context():
        query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        return list(db.session.scalars(query))


def test_an_faq_answer_is_meta_one_delta_and_done(client, standin):
    response = stream(client, "what are your delivery hours")

    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    meta, delta, done = sse.parse(response.get_data(as_text=True))
    assert meta.event == "meta" and set(meta.data) == {"conversation_id", "response_id", "state"}
    assert delta.event == "delta" and "8 AM to 8 PM EST" in delta.data["content"]
    assert done.event == "done" and done.data["source"] == "faq"
    assert meta.data["state"] == done.data["state"] == "bot"
    assert done.data["message_id"] == done.data["metadata"]["message_id"]
    assert done.data["metadata"]["response_id"] == meta.data["response_id"]
    assert done.data["metadata"]["model"] is None and done.data["metadata"]["error_code"] is None
    assert standin.requests == []


def test_an_llm_answer_streams_in_pieces_and_is_stored(app, client, standin):
    standin.push(Reply(content="Yes, we stock organic kale every single day.", chunk_size=5,
                       reasoning="THINKING ABOUT KALE"))

    events = sse.parse(stream(client, "kale?").get_data(as_text=True))

    kinds = [e.event for e in events]
    assert kinds[0] == "meta" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    pieces = [e.data["content"] for e in events if e.event == "delta"]
    assert len(pieces) > 5
    assert "".join(pieces) == "Yes, we stock organic kale every single day."
    assert "THINKING" not in str(events)
    done = events[-1].data
    assert done["source"] == "llm" and done["metadata"]["model"] == "deepseek-chat"
    question, answer = stored(app, events[0].data["conversation_id"])
    assert (answer.content, answer.source, answer.interrupted) == (
        "Yes, we stock organic kale every single day.", "llm", False,
    )
    assert answer.response_id == events[0].data["response_id"]
    assert answer.completion_tokens is not None
    assert standin.requests[0].body["stream"] is True


def test_a_two_turn_conversation_across_both_endpoints(client, standin):
    standin.push(Reply(content="We stock kale daily."), Reply(content="Yes, certified organic."), Reply(content="Yes."))
    first = sse.parse(stream(client, "Do you sell kale?").get_data(as_text=True))
    cid = first[0].data["conversation_id"]

    second = client.post("/api/v1/chat", json={"message": "Is it organic?", "conversation_id": cid}).get_json()
    third = sse.parse(stream(client, "Organic?", cid).get_data(as_text=True))

    assert second["conversation_id"] == cid and third[0].data["conversation_id"] == cid
    assert conversation(standin.requests[1].body["messages"]) == [
        "Do you sell kale?", "We stock kale daily.", "Is it organic?",
    ]
    assert conversation(standin.requests[2].body["messages"]) == [
        "Do you sell kale?", "We stock kale daily.", "Is it organic?", "Yes, certified organic.", "Organic?",
    ]


def test_the_first_delta_reaches_the_client_before_deepseek_finishes(live_app, standin):
    _, base_url = live_app
    standin.push(Reply(content="x" * 40, chunk_size=4, hold_after=1))  # one piece, then nothing until released

    response = sse.open_stream(base_url, {"message": "kale?"})
    first_delta = next(e for e in sse.read_events(response) if e.event == "delta")
    finished_upstream_when_first_delta_arrived = standin.completed_streams
    standin.release()
    rest = list(sse.read_events(response))

    assert first_delta.data["content"] == "xxxx"
    assert finished_upstream_when_first_delta_arrived == 0
    assert rest[-1].event == "done" and standin.completed_streams == 1


def test_comments_keep_the_connection_alive_while_deepseek_queues(live_app, standin):
    _, base_url = live_app  # STREAM_HEARTBEAT_SECONDS=0.1
    standin.push(Reply(content="Worth the wait.", keepalives=8, keepalive_interval=0.1))

    events = list(sse.read_events(sse.open_stream(base_url, {"message": "kale?"})))

    kinds = [e.event for e in events]
    assert kinds.count(":") >= 3
    assert kinds.index(":") < kinds.index("delta")
    assert kinds[-1] == "done"


def test_deepseek_keepalives_do_not_extend_the_deadline(make_app, standin):
    client = make_app(DEEPSEEK_TIMEOUT=0.5).test_client()
    standin.push(Reply(keepalives=200, keepalive_interval=0.05))  # 10 s of `: keep-alive`

    started = time.monotonic()
    events = sse.parse(stream(client, "kale?").get_data(as_text=True))

    assert time.monotonic() - started < 5.0
    assert [e.event for e in events if e.event != ":"] == ["meta", "error"]
    assert events[-1].data["error"]["code"] == "UPSTREAM_TIMEOUT"


def test_an_idle_gap_longer_than_the_timeout_ends_the_stream(make_app, standin):
    app = make_app(DEEPSEEK_TIMEOUT=0.5)
    standin.push(Reply(content="abcdefgh" * 3, chunk_size=8, hold_after=1))  # silent after the first piece

    events = sse.parse(stream(app.test_client(), "kale?").get_data(as_text=True))

    assert events[-1].event == "error" and events[-1].data["error"]["code"] == "UPSTREAM_TIMEOUT"


def test_a_stream_cut_mid_answer_is_an_error_and_keeps_what_was_written(app, client, standin):
    standin.push(Reply(content="Part one. Part two never comes.", chunk_size=5, cut_after=2))

    events = sse.parse(stream(client, "kale?").get_data(as_text=True))

    assert [e.event for e in events] == ["meta", "delta", "delta", "error"]
    assert events[-1].data == {"error": {"code": "UPSTREAM_ERROR", "message": events[-1].data["error"]["message"]}}
    question, partial = stored(app, events[0].data["conversation_id"])
    assert question.error_code == "UPSTREAM_ERROR"
    assert partial.content == "Part one. " and partial.interrupted is True


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(status=503), "UPSTREAM_BUSY"),
        (Reply(status=500), "UPSTREAM_ERROR"),
        (Reply(status=401), "UPSTREAM_UNAVAILABLE"),
        (Reply(raw=b"data: {not json}\n\n", raw_content_type="text/event-stream"), "UPSTREAM_ERROR"),
    ],
)
def test_upstream_failures_after_the_start_are_error_events(app, client, standin, reply, code):
    standin.push(reply, reply, reply)

    response = stream(client, "kale?")

    assert response.status_code == 200
    events = sse.parse(response.get_data(as_text=True))
    assert [e.event for e in events] == ["meta", "error"]
    assert events[-1].data["error"]["code"] == code
    [question] = stored(app, events[0].data["conversation_id"])
    assert question.error_code == code


def test_a_client_that_leaves_closes_the_upstream_and_the_partial_answer_is_kept(live_app, standin):
    app, base_url = live_app
    standin.push(Reply(content="y" * 400, chunk_size=4, chunk_delay=0.05))  # 100 pieces, 5 s

    response = sse.open_stream(base_url, {"message": "kale?"})
    events = sse.read_events(response)
    meta = next(events)
    next(e for e in events if e.event == "delta")
    response.close()  # the customer closed the tab

    assert standin.wait_for_disconnect(timeout=3.0)
    assert standin.completed_streams == 0
    assert wait_until(lambda: len(stored(app, meta.data["conversation_id"])) == 2, timeout=5.0)
    question, partial = stored(app, meta.data["conversation_id"])
    assert question.error_code is None
    assert partial.interrupted is True and 0 < len(partial.content) < 400


def test_closing_the_response_early_cancels_the_upstream(app, client, standin):
    standin.push(Reply(content="z" * 400, chunk_size=4, chunk_delay=0.05))
    response = client.post("/api/v1/chat/stream", json={"message": "kale?"}, buffered=False)
    chunks = iter(response.response)
    [meta] = sse.parse(next(chunks).decode())
    next(c for c in chunks if b"delta" in c)

    response.close()  # what a WSGI server does when the client is gone

    assert standin.wait_for_disconnect(timeout=3.0)
    question, partial = stored(app, meta.data["conversation_id"])
    assert question.error_code is None
    assert partial.interrupted is True and partial.content.startswith("zzzz")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": " "}, 400, "EMPTY_QUERY_001"),
        ({"text": "hi"}, 400, "INVALID_REQUEST"),
        ({"message": "hi", "conversation_id": "0b0e5d9c-6d0e-4a55-8f7e-3c2c7a7a7a7a"}, 404, "CONVERSATION_NOT_FOUND"),
    ],
)
def test_errors_before_the_stream_starts_are_json(client, standin, body, status, code):
    response = client.post("/api/v1/chat/stream", json=body)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code
    assert standin.requests == []


def test_no_key_is_a_json_503_before_the_stream_but_faqs_still_stream(make_app, standin):
    client = make_app(DEEPSEEK_API_KEY="").test_client()

    refused = stream(client, "kale?")
    faq = stream(client, "delivery hours")

    assert refused.status_code == 503 and refused.get_json()["error"]["code"] == "LLM_NOT_CONFIGURED"
    assert faq.status_code == 200 and sse.parse(faq.get_data(as_text=True))[-1].event == "done"


def test_the_rate_limit_is_a_json_429_before_the_stream(client):
    for _ in range(5):
        stream(client, "delivery hours")

    response = stream(client, "delivery hours")

    assert response.status_code == 429
    assert response.mimetype == "application/json"
    assert response.headers["Retry-After"]


def test_an_unexpected_failure_mid_stream_is_an_internal_error_event_and_logged(app, client, standin, log_file,
                                                                                 monkeypatch):
    from app.services.chatbot_service import ChatbotService

    def broken_save(self, turn, answer, *, interrupted=False):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ChatbotService, "save_answer", broken_save)
    standin.push(Reply(content="We stock kale daily."))  # a model's answer: an FAQ's is stored with its question

    events = sse.parse(stream(client, "Do you sell kale?").get_data(as_text=True))

    assert [e.event for e in events] == ["meta", "delta", "delta", "delta", "error"]
    assert events[-1].data["error"]["code"] == "INTERNAL_ERROR"
    assert "disk on fire" not in str(events)
    [logged] = [line for line in read_log(log_file) if line["event"] == "unhandled_exception"]
    assert "RuntimeError: disk on fire" in logged["exception"]
