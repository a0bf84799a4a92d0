"""GET /api/v1/conversations/<id> in pages: limit, before and after (message ids), has_more and next."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.storage.conversations import ConversationStore

pytestmark = pytest.mark.both_databases


@pytest.fixture
def long_conversation(app):
    """A conversation of 130 messages (65 questions and answers), written straight to the store."""
    with app.app_context():
        store = ConversationStore(db.session)
        cid, _ = store.start("question 0")
        store.add_message(cid, "assistant", "answer 0", source="faq")
        for n in range(1, 65):
            store.add_message(cid, "user", f"question {n}")
            store.add_message(cid, "assistant", f"answer {n}", source="faq")
    return cid


def page(client, cid, query=""):
    response = client.get(f"/api/v1/conversations/{cid}{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def contents(body):
    return [m["content"] for m in body["messages"]]


def test_every_message_has_its_message_id(client):
    cid = client.post("/api/v1/chat", json={"message": "delivery hours"}).get_json()["conversation_id"]

    messages = page(client, cid)["messages"]

    ids = [m["message_id"] for m in messages]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == 2
    assert list(messages[0])[0] == "message_id"


def test_the_first_page_is_the_newest_100_oldest_first_and_next_pages_back(client, long_conversation):
    first = page(client, long_conversation)

    assert len(first["messages"]) == 100
    assert contents(first)[0] == "question 15" and contents(first)[-1] == "answer 64"
    assert first["has_more"] is True
    oldest = first["messages"][0]["message_id"]
    assert first["next"] == f"/api/v1/conversations/{long_conversation}?before={oldest}&limit=100"

    rest = page(client, long_conversation, first["next"].split(long_conversation)[1])

    assert len(rest["messages"]) == 30 and contents(rest)[0] == "question 0" and contents(rest)[-1] == "answer 14"
    assert rest["has_more"] is False and rest["next"] is None


def test_after_returns_only_newer_messages_oldest_first(client, long_conversation):
    everything = page(client, long_conversation, "?limit=500")
    ids = [m["message_id"] for m in everything["messages"]]

    newer = page(client, long_conversation, f"?after={ids[9]}&limit=4")
    following = page(client, long_conversation, newer["next"].split(long_conversation)[1])
    caught_up = page(client, long_conversation, f"?after={ids[-1]}")

    assert len(ids) == 130 and everything["has_more"] is False
    assert [m["message_id"] for m in newer["messages"]] == ids[10:14] and newer["has_more"] is True
    assert newer["next"] == f"/api/v1/conversations/{long_conversation}?after={ids[13]}&limit=4"
    assert [m["message_id"] for m in following["messages"]] == ids[14:18]
    assert caught_up["messages"] == [] and caught_up["has_more"] is False and caught_up["next"] is None


def test_before_returns_the_older_messages_next_to_the_cursor(client, long_conversation):
    ids = [m["message_id"] for m in page(client, long_conversation, "?limit=500")["messages"]]

    older = page(client, long_conversation, f"?before={ids[10]}&limit=3")
    first = page(client, long_conversation, f"?before={ids[2]}&limit=3")

    assert [m["message_id"] for m in older["messages"]] == ids[7:10] and older["has_more"] is True
    assert [m["message_id"] for m in first["messages"]] == ids[:2] and first["has_more"] is False


@pytest.mark.parametrize(
    "query",
    ["?limit=0", "?limit=501", "?limit=-1", "?limit=abc", "?limit=1.5", "?limit=", "?limit=%201",
     "?before=x", "?before=-1", "?after=1e3", "?after=", f"?after={2**31}", "?before=00000000001"],
)
def test_a_bad_limit_or_cursor_is_invalid_request(client, query):
    cid = client.post("/api/v1/chat", json={"message": "delivery hours"}).get_json()["conversation_id"]

    response = client.get(f"/api/v1/conversations/{cid}{query}")

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert any(name in body["error"]["message"] for name in ("limit", "before", "after"))


def test_with_before_and_after_the_messages_between_come_oldest_first(client, long_conversation):
    ids = [m["message_id"] for m in page(client, long_conversation, "?limit=500")["messages"]]

    between = page(client, long_conversation, f"?after={ids[3]}&before={ids[10]}&limit=4")
    rest = page(client, long_conversation, between["next"].split(long_conversation)[1])

    assert [m["message_id"] for m in between["messages"]] == ids[4:8] and between["has_more"] is True
    assert [m["message_id"] for m in rest["messages"]] == ids[8:10] and rest["has_more"] is False


def test_the_largest_cursor_is_accepted(client):
    cid = client.post("/api/v1/chat", json={"message": "delivery hours"}).get_json()["conversation_id"]

    body = page(client, cid, f"?before={2**31 - 1}&limit=500")

    assert len(body["messages"]) == 2 and body["has_more"] is False
