"""Hostile JSON bodies: refused with INVALID_REQUEST or cleaned, never a 500, on SQLite and PostgreSQL alike.

Every JSON body is read by `schemas.read_json_object`: lone or reversed surrogates
and bodies nested deeper than MAX_JSON_NESTING are refused; control characters other
than newline and tab are removed from every string (keys included) before anything
is stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.api.v1.schemas import MAX_JSON_NESTING, clean_text, nesting_depth
from app.extensions import db
from app.storage.models import Conversation, Message
from tests.sse import parse
from tests.support import read_log

pytestmark = pytest.mark.both_databases

CHAT_ROUTES = ["/api/v1/chat", "/api/v1/chat/stream"]
DEEP = 5000

HOSTILE_BODIES = {
    "lone high surrogate": '{"message": "\\ud800"}',
    "lone low surrogate": '{"message": "caf\\udc00e hours"}',
    "reversed surrogate pair": '{"message": "\\udc00\\ud800"}',
    "surrogate in conversation_id": '{"message": "delivery hours", "conversation_id": "\\ud800"}',
    "surrogate in a key": '{"message": "delivery hours", "\\udfff": 1}',
    "surrogate in an ignored field": '{"message": "delivery hours", "extra": [{"x": "\\ud83d"}]}',
    "deep objects": '{"a":' * DEEP + "1" + "}" * DEEP,
    "deep arrays in a field": '{"message": "delivery hours", "x": ' + "[" * DEEP + "]" * DEEP + "}",
    "deep top-level array": "[" * DEEP + "]" * DEEP,
    "just over the nesting limit": '{"message": "hi", "x": ' + "[" * MAX_JSON_NESTING + "]" * MAX_JSON_NESTING + "}",
    "unclosed deep arrays": '{"message": "hi", "x": ' + "[" * DEEP,
    "a number too long to read": '{"message": "hi", "n": 1' + "0" * 5000 + "}",
}


def stored(app):
    """Return how many conversations and messages the app's database holds."""
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in (Conversation, Message))


def transcript(client, conversation_id):
    """Return the contents of a conversation's messages."""
    body = client.get(f"/api/v1/conversations/{conversation_id}").get_json()
    return [message["content"] for message in body["messages"]]


@pytest.fixture
def roomy(make_app):
    return make_app(RATE_LIMITS="1000/minute")


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_invalid_request_and_store_nothing(roomy, standin, log_file, route, body):
    response = roomy.test_client().post(route, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"
    assert stored(roomy) == (0, 0)
    assert standin.requests == []
    assert [line for line in read_log(log_file) if "exception" in line or line["level"] == "error"] == []


def test_the_refusals_say_what_is_wrong(client):
    def message(body):
        return client.post("/api/v1/chat", data=body, content_type="application/json").get_json()["error"]["message"]

    assert "Unicode" in message(HOSTILE_BODIES["lone high surrogate"])
    assert "nested" in message(HOSTILE_BODIES["deep objects"])
    assert "not valid JSON" in message("{not json")


def test_nesting_up_to_the_limit_is_accepted(client):
    body = '{"message": "delivery hours", "x": ' + "[" * (MAX_JSON_NESTING - 1) + "]" * (MAX_JSON_NESTING - 1) + "}"

    response = client.post("/api/v1/chat", data=body, content_type="application/json")

    assert response.status_code == 200


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    body = '{"message": "delivery hours", "note": "' + "[{" * 3000 + '\\" ]"}'

    response = client.post("/api/v1/chat", data=body, content_type="application/json")

    assert response.status_code == 200


def test_a_valid_surrogate_pair_is_kept(roomy):
    client = roomy.test_client()

    response = client.post("/api/v1/chat", data='{"message": "delivery hours \\ud83e\\udd6c"}',
                           content_type="application/json")

    assert response.status_code == 200
    assert transcript(client, response.get_json()["conversation_id"])[0] == "delivery hours \N{LEAFY GREEN}"


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_nul_and_control_characters_are_removed_before_storing(roomy, route):
    client = roomy.test_client()
    body = '{"message": "delivery\\u0000 hours\\u0007\\u001b[31m\\u007f\\u009b\\r\\nand\\ttoday?\\rok"}'

    response = client.post(route, data=body, content_type="application/json")

    assert response.status_code == 200
    conversation_id = _conversation_id(response)
    assert transcript(client, conversation_id)[0] == "delivery hours[31m\nand\ttoday?\nok"


def _conversation_id(response):
    """Return the conversation id of a chat answer, JSON or streamed."""
    if response.mimetype == "application/json":
        return response.get_json()["conversation_id"]
    [meta] = [event for event in parse(response.get_data(as_text=True)) if event.event == "meta"]
    return meta.data["conversation_id"]


def test_a_message_of_control_characters_only_is_empty_and_stores_nothing(roomy):
    response = roomy.test_client().post(
        "/api/v1/chat", data='{"message": "\\u0000\\u0001 \\u001f"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "EMPTY_QUERY_001"
    assert stored(roomy) == (0, 0)


def test_control_characters_in_a_conversation_id_are_removed_too(roomy):
    client = roomy.test_client()
    first = client.post("/api/v1/chat", json={"message": "delivery hours"}).get_json()["conversation_id"]

    again = client.post("/api/v1/chat", json={"message": "delivery hours", "conversation_id": f"{first}\u0000"})
    nul_only = client.post("/api/v1/chat", json={"message": "delivery hours", "conversation_id": "\u0000"})

    assert again.status_code == 200 and again.get_json()["conversation_id"] == first
    assert nul_only.status_code == 404 and nul_only.get_json()["error"]["code"] == "CONVERSATION_NOT_FOUND"
    assert stored(roomy) == (1, 4)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("plain", "plain"),
        ("a\x00b", "ab"),
        ("line\r\nnext\rlast\n", "line\nnext\nlast\n"),
        ("tab\tkept", "tab\tkept"),
        ("\x01\x08\x0b\x0c\x0e\x1f\x7f\x80\x9f", ""),
        ("caf\u00e9 \U0001f96c \u2028", "caf\u00e9 \U0001f96c \u2028"),
    ],
)
def test_clean_text(text, cleaned):
    assert clean_text(text) == cleaned


@pytest.mark.parametrize(
    ("text", "depth"),
    [("{}", 1), ('{"a": [1, {"b": []}]}', 4), ('"[[[["', 0), ('["\\"[", ["x"]]', 2), ("42", 0)],
)
def test_nesting_depth(text, depth):
    assert nesting_depth(text) == depth
