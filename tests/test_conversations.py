"""Conversations kept in a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services.tokens import estimate_message_tokens
from app.storage.conversations import ConversationStore
from app.storage.database import upgrade_schema
from app.storage.models import Conversation, Message
from tests.deepseek_standin import Reply
from tests.prompts import FIXED_PREFIX, conversation

pytestmark = pytest.mark.both_databases
UNKNOWN_ID = "5b1f3e0a-9c1d-4e7a-8f2b-6d4c3a2b1e0f"  # fixed, so that test ids are the same in every run and worker


def ask(client, message, conversation_id=None):
    body = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return client.post("/api/v1/chat", json=body)


def rows(app, model, **where):
    with app.app_context():
        query = select(model).filter_by(**where).order_by(model.created_at)
        return list(db.session.scalars(query))


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_conversation_starts_without_an_id(client):
    first = ask(client, "delivery hours").get_json()
    second = ask(client, "delivery hours").get_json()

    assert uuid.UUID(first["conversation_id"]).version == 4
    assert first["conversation_id"] != second["conversation_id"]


def test_the_second_turn_resends_the_first(client, standin):
    standin.push(Reply(content="We stock kale daily."), Reply(content="Yes, certified organic."))
    first = ask(client, "Do you sell kale?").get_json()

    second = ask(client, "Is it organic?", first["conversation_id"])

    assert second.status_code == 200
    assert second.get_json()["conversation_id"] == first["conversation_id"]
    assert standin.requests[1].body["messages"] == [
        *FIXED_PREFIX,
        {"role": "user", "content": "Do you sell kale?"},
        {"role": "assistant", "content": "We stock kale daily."},
        {"role": "user", "content": "Is it organic?"},
    ]


def test_faq_turns_are_history_too(client, standin):
    first = ask(client, "what are your delivery hours").get_json()

    ask(client, "and on holidays?", first["conversation_id"])

    [request] = standin.requests
    assert [m["role"] for m in request.body["messages"]] == ["system", "system", "user", "assistant", "user"]
    assert conversation(request.body["messages"])[1] == first["content"]


@pytest.mark.parametrize(
    "bad_id",
    [
        UNKNOWN_ID,  # well formed, unknown
        "not-a-uuid",
        str(uuid.NAMESPACE_DNS),  # a UUID (version 1), but not one we issue
        "",
        "../../etc/passwd",
        "{" + UNKNOWN_ID + "}",
    ],
)
def test_an_unknown_or_malformed_id_is_404_and_stores_nothing(app, client, standin, bad_id):
    response = ask(client, "delivery hours", bad_id)

    assert response.status_code == 404
    body = response.get_json()
    assert body["error"]["code"] == "CONVERSATION_NOT_FOUND"
    assert body["metadata"]["error_code"] == "CONVERSATION_NOT_FOUND"
    assert count(app, Conversation) == 0 and count(app, Message) == 0
    assert standin.requests == []


@pytest.mark.parametrize("bad_id", [42, ["x"], {"id": "x"}, True])
def test_a_conversation_id_that_is_not_a_string_is_invalid(client, bad_id):
    response = client.post("/api/v1/chat", json={"message": "hello", "conversation_id": bad_id})

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"


def test_a_null_conversation_id_starts_a_new_one(client):
    response = client.post("/api/v1/chat", json={"message": "delivery hours", "conversation_id": None})

    assert response.status_code == 200
    assert response.get_json()["conversation_id"]


def test_answers_are_stored_with_source_model_and_usage(app, client, standin):
    standin.push(Reply(content="Kale is in stock.", model="deepseek-chat", usage={
        "prompt_tokens": 80, "completion_tokens": 6, "total_tokens": 86,
        "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 16,
    }))
    body = ask(client, "kale?").get_json()

    question, answer = rows(app, Message, conversation_id=body["conversation_id"])
    assert (question.role, question.content, question.source, question.error_code) == ("user", "kale?", None, None)
    assert (answer.role, answer.content, answer.source, answer.model) == (
        "assistant", "Kale is in stock.", "llm", "deepseek-chat",
    )
    assert (answer.prompt_tokens, answer.completion_tokens, answer.cache_hit_tokens) == (80, 6, 64)
    assert answer.response_id == body["metadata"]["response_id"]
    assert answer.created_at.tzinfo is not None and question.created_at <= answer.created_at


def test_every_write_is_committed_and_leaves_no_transaction_open(app):
    # A read after the commit would begin a new transaction and keep a pooled connection
    # checked out until the request ends: through a whole DeepSeek call.
    with app.app_context():
        store = ConversationStore(db.session)
        empty = store.create()
        assert not db.session().in_transaction()
        started, question_id = store.start("kale?")
        assert not db.session().in_transaction()
        answer_id = store.add_message(started, "assistant", "Kale is in stock.", source="llm")
        assert not db.session().in_transaction()

        [conversation] = [c for c in db.session.scalars(select(Conversation)) if c.id == started]
        assert [(m.id, m.role) for m in store.messages(started)] == [(question_id, "user"), (answer_id, "assistant")]
        assert conversation.last_message_at == store.messages(started)[-1].created_at
        assert store.get(empty) is not None and store.messages(empty) == []


def test_a_failed_call_keeps_the_question_with_its_error_code(app, client, standin):
    first = ask(client, "delivery hours").get_json()
    standin.push(*[Reply(status=503)] * 3)

    failed = ask(client, "kale?", first["conversation_id"])

    assert failed.status_code == 503
    conversation = client.get(f"/api/v1/conversations/{first['conversation_id']}").get_json()
    assert [(m["role"], m["content"], m["error_code"]) for m in conversation["messages"]] == [
        ("user", "delivery hours", None),
        ("assistant", first["content"], None),
        ("user", "kale?", "UPSTREAM_BUSY"),
    ]


def test_failed_turns_and_reasoning_are_never_sent_back(client, standin):
    standin.push(Reply(content="Kale: yes.", reasoning="PRIVATE REASONING"))
    cid = ask(client, "kale?").get_json()["conversation_id"]
    standin.push(*[Reply(status=500)] * 3)
    ask(client, "THIS FAILED", cid)
    standin.reset()

    ask(client, "and spinach?", cid)

    sent = standin.requests[0].body["messages"]
    assert conversation(sent) == ["kale?", "Kale: yes.", "and spinach?"]
    assert "PRIVATE REASONING" not in str(sent) and "THIS FAILED" not in str(sent)


def test_history_keeps_the_newest_turns_within_the_message_limit(make_app, standin):
    client = make_app(HISTORY_MAX_MESSAGES=4).test_client()
    cid = None
    for n in range(4):
        standin.push(Reply(content=f"answer {n}"))
        cid = ask(client, f"question {n}", cid).get_json()["conversation_id"]
    standin.reset()

    ask(client, "question 4", cid)

    sent = conversation(standin.requests[0].body["messages"])
    assert sent == ["question 2", "answer 2", "question 3", "answer 3", "question 4"]


def converse(client, standin, turns):
    """Hold a conversation of (question, answer) turns through the API; return its id."""
    cid = None
    for question, answer in turns:
        standin.push(Reply(content=answer))
        cid = ask(client, question, cid).get_json()["conversation_id"]
    standin.reset()
    return cid


ENGLISH = [("Do you sell kale number %d?" % n, "Yes, kale number %d is in stock today." % n) for n in range(3)]
CHINESE = [("你们卖第%d号羽衣甘蓝吗？是有机的吗？今天能送到吗？" % n, "是的，第%d号羽衣甘蓝今天有货，是有机的，下午两点前下单当天送到。" % n)
           for n in range(3)]
EMOJI = [("Kale %d? 🥬🥬🥬🥬🥬🥬🥬" % n, "Yes 👍👍👍👍👍👍👍👍👍👍 %d" % n) for n in range(3)]


@pytest.mark.parametrize(("turns", "kept"), [(ENGLISH, 3), (CHINESE, 1), (EMOJI, 1)])
def test_history_keeps_the_newest_turns_within_the_token_estimate(make_app, standin, turns, kept):
    # The budget fits the three English turns; the same number of characters in Chinese
    # or emoji costs DeepSeek more tokens, so fewer of those turns fit.
    assert len("".join(ENGLISH[0])) >= len("".join(CHINESE[0])) and len("".join(ENGLISH[0])) >= len("".join(EMOJI[0]))
    budget = 3 * sum(estimate_message_tokens(text) for text in ENGLISH[0]) + 3
    client = make_app(HISTORY_MAX_TOKENS=budget, RATE_LIMITS="100/minute").test_client()
    cid = converse(client, standin, turns)

    ask(client, "and the next question?", cid)

    sent = conversation(standin.requests[0].body["messages"])
    expected = [text for turn in turns[len(turns) - kept:] for text in turn]
    assert sent == [*expected, "and the next question?"]  # the new message itself is not counted


def test_history_of_one_turn_too_large_for_the_budget_is_left_out(make_app, standin):
    client = make_app(HISTORY_MAX_TOKENS=5).test_client()
    cid = converse(client, standin, ENGLISH[:1])

    ask(client, "and spinach?", cid)

    assert conversation(standin.requests[0].body["messages"]) == ["and spinach?"]


def test_the_default_history_budget_is_4000_tokens(app):
    assert app.config["HISTORY_MAX_TOKENS"] == 4000
    assert "HISTORY_MAX_CHARS" not in app.config


def test_get_returns_the_conversation_oldest_first(client, standin):
    standin.push(Reply(content="Kale: yes."))
    cid = ask(client, "kale?").get_json()["conversation_id"]
    ask(client, "order status", cid)

    response = client.get(f"/api/v1/conversations/{cid}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["conversation_id"] == cid
    assert [(m["role"], m["source"]) for m in body["messages"]] == [
        ("user", None), ("assistant", "llm"), ("user", None), ("assistant", "faq"),
    ]
    stamps = [datetime.fromisoformat(m["created_at"]) for m in body["messages"]]
    assert all(s.utcoffset() == timedelta(0) for s in stamps)
    assert stamps == sorted(stamps)
    assert datetime.fromisoformat(body["created_at"]) <= stamps[0]
    assert all(m["interrupted"] is False and m["error_code"] is None for m in body["messages"])


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("bad_id", [UNKNOWN_ID, "nope", str(uuid.NAMESPACE_DNS)])
def test_unknown_conversations_are_404(client, method, bad_id):
    response = getattr(client, method)(f"/api/v1/conversations/{bad_id}")

    assert response.status_code == 404
    assert response.get_json() == {
        "error": {"code": "CONVERSATION_NOT_FOUND", "message": response.get_json()["error"]["message"]}
    }


def test_delete_erases_every_trace(make_app, standin):
    app = make_app(RATE_LIMITS="100/minute")
    client = app.test_client()
    standin.push(*[Reply(status=500)] * 3)
    doomed = ask(client, "kale?").get_json()["metadata"]  # a failed turn is stored too
    doomed_id = rows(app, Conversation)[0].id
    kept = ask(client, "delivery hours").get_json()["conversation_id"]
    ask(client, "order status", doomed_id)

    response = client.delete(f"/api/v1/conversations/{doomed_id}")

    assert doomed["error_code"] == "UPSTREAM_ERROR"
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/api/v1/conversations/{doomed_id}").status_code == 404
    assert rows(app, Message, conversation_id=doomed_id) == []
    assert [c.id for c in rows(app, Conversation)] == [kept]
    assert client.get(f"/api/v1/conversations/{kept}").status_code == 200
    assert client.delete(f"/api/v1/conversations/{doomed_id}").status_code == 404


def test_a_conversation_survives_a_restart(make_app, standin):
    standin.push(Reply(content="Kale: yes."))
    cid = ask(make_app().test_client(), "kale?").get_json()["conversation_id"]

    restarted = make_app().test_client()  # a new app on the same database
    body = restarted.get(f"/api/v1/conversations/{cid}").get_json()
    ask(restarted, "and spinach?", cid)

    assert [m["content"] for m in body["messages"]] == ["kale?", "Kale: yes."]
    assert conversation(standin.requests[-1].body["messages"]) == ["kale?", "Kale: yes.", "and spinach?"]


def test_upgrading_the_schema_again_keeps_the_data(make_app):
    app = make_app()
    cid = ask(app.test_client(), "delivery hours").get_json()["conversation_id"]

    again = make_app()  # a new app on the same database, upgraded again as `run.py` does at start
    upgrade_schema(again)

    assert again.test_client().get(f"/api/v1/conversations/{cid}").status_code == 200


def test_purge_deletes_only_conversations_idle_for_longer_than_the_retention(app, client):
    old = ask(client, "delivery hours").get_json()["conversation_id"]
    recent = ask(client, "order status").get_json()["conversation_id"]
    with app.app_context():
        db.session.get(Conversation, old).last_message_at = datetime.now(timezone.utc) - timedelta(days=40)
        db.session.commit()

    runner = app.test_cli_runner()
    kept_all = runner.invoke(args=["conversations", "purge", "--older-than-days", "45"])
    purged = runner.invoke(args=["conversations", "purge", "--older-than-days", "30"])

    assert kept_all.exit_code == 0 and "Deleted 0 conversations" in kept_all.output
    assert purged.exit_code == 0 and "Deleted 1 conversation " in purged.output
    assert [c.id for c in rows(app, Conversation)] == [recent]
    assert rows(app, Message, conversation_id=old) == []


def test_purge_defaults_to_the_configured_retention(make_app):
    app = make_app(CONVERSATION_RETENTION_DAYS=0)
    ask(app.test_client(), "delivery hours")

    result = app.test_cli_runner().invoke(args=["conversations", "purge"])

    assert result.exit_code == 0
    assert "in the last 0 days" in result.output
    assert count(app, Conversation) == 0


def test_purge_refuses_a_negative_age(app):
    result = app.test_cli_runner().invoke(args=["conversations", "purge", "--older-than-days", "-1"])

    assert result.exit_code != 0


@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/chat/stream"])
def test_past_the_turn_limit_a_conversation_is_full_and_nothing_is_stored(make_app, standin, path):
    app = make_app(MAX_TURNS_PER_CONVERSATION=2, RATE_LIMITS="100/minute")
    client = app.test_client()
    cid = ask(client, "delivery hours").get_json()["conversation_id"]
    standin.push(*[Reply(status=500)] * 3)
    assert ask(client, "kale?", cid).status_code == 502  # a failed turn is a turn too
    stored = count(app, Message)

    refused = client.post(path, json={"message": "order status", "conversation_id": cid})

    assert refused.status_code == 409 and refused.mimetype == "application/json"
    body = refused.get_json()
    assert body["error"]["code"] == "CONVERSATION_FULL"
    assert "new conversation" in body["error"]["message"]
    assert body["content"] == body["error"]["message"] and body["metadata"]["error_code"] == "CONVERSATION_FULL"
    assert count(app, Message) == stored
    assert ask(client, "order status").status_code == 200  # a new conversation is welcome


def test_the_default_turn_limit_is_100(app):
    assert app.config["MAX_TURNS_PER_CONVERSATION"] == 100
