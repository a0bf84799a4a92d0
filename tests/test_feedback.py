"""Customers rate answers: PUT and DELETE /api/v1/conversations/<id>/messages/<message_id>/feedback, on both databases.

Every rating is checked the way the customer sees it: in GET /api/v1/conversations/<id>.
"""

from __future__ import annotations

import pytest

from tests.deepseek_standin import Reply
from tests.support import error_of

pytestmark = pytest.mark.both_databases

KEY_A, KEY_B = "key-alpha-0123456789", "key-bravo-9876543210"


@pytest.fixture
def client(make_app):
    """A client of an app with a roomy customer limit."""
    return make_app(RATE_LIMITS="1000/minute").test_client()


def asked(client, standin, headers=None):
    """Have a customer ask an FAQ question and a question DeepSeek answers; return the conversation's messages."""
    first = client.post("/api/v1/chat", json={"message": "Where is my order?"}, headers=headers).get_json()
    standin.push(Reply(content="We sell kale on Tuesdays."))
    body = {"message": "Do you sell kale?", "conversation_id": first["conversation_id"]}
    assert client.post("/api/v1/chat", json=body, headers=headers).status_code == 200
    return first["conversation_id"], messages(client, first["conversation_id"], headers)


def messages(client, conversation_id, headers=None):
    response = client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["messages"]


def feedback_path(conversation_id, message_id):
    return f"/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback"


def test_answers_carry_no_rating_until_rated(client, standin):
    _, stored = asked(client, standin)

    assert [(m["role"], m.get("feedback", "absent")) for m in stored][1::2] == [("assistant", None), ("assistant", None)]
    assert [m.get("feedback") for m in stored][::2] == [None, None]  # questions have none (or no field at all)


def test_a_rating_is_stored_replaced_and_removed(client, standin):
    conversation_id, stored = asked(client, standin)
    faq_answer, llm_answer = stored[1]["message_id"], stored[3]["message_id"]

    up = client.put(feedback_path(conversation_id, faq_answer), json={"rating": "up"})
    down = client.put(feedback_path(conversation_id, llm_answer), json={"rating": "down", "comment": " Not on Tuesdays "})

    assert up.status_code == 200 and down.status_code == 200
    assert {key: up.get_json()[key] for key in ("message_id", "rating", "comment")} == {
        "message_id": faq_answer, "rating": "up", "comment": None,
    }
    assert down.get_json()["comment"] == "Not on Tuesdays" and down.get_json()["updated_at"].endswith("+00:00")
    assert [m.get("feedback") for m in messages(client, conversation_id)] == [
        None, {"rating": "up", "comment": None}, None, {"rating": "down", "comment": "Not on Tuesdays"},
    ]

    replaced = client.put(feedback_path(conversation_id, faq_answer), json={"rating": "down", "comment": "Too vague"})
    assert replaced.status_code == 200
    assert messages(client, conversation_id)[1]["feedback"] == {"rating": "down", "comment": "Too vague"}

    assert client.delete(feedback_path(conversation_id, faq_answer)).status_code == 204
    assert client.delete(feedback_path(conversation_id, faq_answer)).status_code == 204  # nothing left: still fine
    assert [m.get("feedback") for m in messages(client, conversation_id)][1::2] == [
        None, {"rating": "down", "comment": "Not on Tuesdays"},
    ]


def test_control_characters_leave_the_comment_and_a_blank_comment_is_none(client, standin):
    conversation_id, stored = asked(client, standin)
    answer = stored[1]["message_id"]

    cleaned = client.put(feedback_path(conversation_id, answer), json={"rating": "down", "comment": "bad\x00\x1b answer\r\n"})
    blank = client.put(feedback_path(conversation_id, stored[3]["message_id"]), json={"rating": "up", "comment": "  "})

    assert cleaned.get_json()["comment"] == "bad answer"
    assert blank.get_json()["comment"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rating"),
        ({"rating": "meh"}, "rating"),
        ({"rating": 1}, "rating"),
        ({"rating": "UP"}, "rating"),
        ({"rating": "down", "comment": 5}, "comment"),
        ({"rating": "down", "comment": "x" * 1001}, "comment"),
        ({"rating": "down", "stars": 5}, "stars"),
    ],
)
def test_a_bad_rating_is_a_400_naming_the_field_and_changes_nothing(client, standin, body, field):
    conversation_id, stored = asked(client, standin)
    answer = stored[1]["message_id"]
    client.put(feedback_path(conversation_id, answer), json={"rating": "up"})

    response = client.put(feedback_path(conversation_id, answer), json=body)

    assert error_of(response) == (400, "INVALID_REQUEST")
    assert response.get_json()["field"] == field and f'"{field}"' in response.get_json()["error"]["message"]
    assert messages(client, conversation_id)[1]["feedback"] == {"rating": "up", "comment": None}


def test_a_comment_of_1000_characters_is_kept_whole(client, standin):
    conversation_id, stored = asked(client, standin)

    response = client.put(feedback_path(conversation_id, stored[1]["message_id"]), json={"rating": "down", "comment": "é" * 1000})

    assert response.status_code == 200 and response.get_json()["comment"] == "é" * 1000


def test_only_answers_can_be_rated(client, standin):
    conversation_id, stored = asked(client, standin)
    question = stored[0]["message_id"]

    for response in (
        client.put(feedback_path(conversation_id, question), json={"rating": "down"}),
        client.delete(feedback_path(conversation_id, question)),
    ):
        assert error_of(response) == (400, "INVALID_REQUEST")
    assert messages(client, conversation_id)[0].get("feedback") is None


def test_unknown_ids_are_404_and_another_conversations_answer_is_unknown(client, standin):
    conversation_id, stored = asked(client, standin)
    other_id, other = asked(client, standin)
    unknown_conversation = "0b5cc7b1-8a4b-4e0e-9a51-3a0d7c1f9e11"

    assert error_of(client.put(feedback_path(conversation_id, other[1]["message_id"]), json={"rating": "up"})) == (
        404, "MESSAGE_NOT_FOUND",
    )
    for message_id in ("999999", "0", "abc", "99999999999", "-1"):
        assert error_of(client.put(feedback_path(conversation_id, message_id), json={"rating": "up"})) == (
            404, "MESSAGE_NOT_FOUND",
        ), message_id
        assert error_of(client.delete(feedback_path(conversation_id, message_id))) == (404, "MESSAGE_NOT_FOUND")
    for bad_conversation in (unknown_conversation, "not-a-uuid"):
        path = feedback_path(bad_conversation, stored[1]["message_id"])
        assert error_of(client.put(path, json={"rating": "up"})) == (404, "CONVERSATION_NOT_FOUND")
        assert error_of(client.delete(path)) == (404, "CONVERSATION_NOT_FOUND")
    assert messages(client, other_id)[1]["feedback"] is None


def test_a_body_that_is_not_json_is_refused(client, standin):
    conversation_id, stored = asked(client, standin)
    path = feedback_path(conversation_id, stored[1]["message_id"])

    assert error_of(client.put(path, data="rating=up")) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert error_of(client.put(path, data="[1]", content_type="application/json")) == (400, "INVALID_REQUEST")


def test_only_the_conversations_api_key_may_rate_its_answers(make_app, standin):
    client = make_app(API_KEYS=f"{KEY_A},{KEY_B}", RATE_LIMITS="1000/minute").test_client()
    owner, stranger = {"Authorization": f"Bearer {KEY_A}"}, {"Authorization": f"Bearer {KEY_B}"}
    conversation_id, stored = asked(client, standin, owner)
    path = feedback_path(conversation_id, stored[1]["message_id"])

    assert error_of(client.put(path, json={"rating": "down"})) == (401, "UNAUTHORIZED")
    assert error_of(client.put(path, json={"rating": "down"}, headers=stranger)) == (404, "CONVERSATION_NOT_FOUND")
    assert error_of(client.delete(path, headers=stranger)) == (404, "CONVERSATION_NOT_FOUND")
    assert client.put(path, json={"rating": "down"}, headers=owner).status_code == 200
    assert messages(client, conversation_id, owner)[1]["feedback"] == {"rating": "down", "comment": None}


def test_ratings_spend_the_api_rate_limit(make_app, standin):
    client = make_app(RATE_LIMITS="3/minute").test_client()
    conversation_id = client.post("/api/v1/chat", json={"message": "Where is my order?"}).get_json()["conversation_id"]
    path = feedback_path(conversation_id, 2)

    statuses = [client.put(path, json={"rating": "up"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_a_page_without_answers_reads_back_without_ratings(make_app, standin):
    client = make_app(RATE_LIMITS="1000/minute", DEEPSEEK_MAX_RETRIES=0).test_client()
    first = client.post("/api/v1/chat", json={"message": "Where is my order?"}).get_json()
    standin.push(Reply(status=500))
    assert client.post("/api/v1/chat", json={"message": "Do you rent out bicycles?",
                                              "conversation_id": first["conversation_id"]}).status_code == 502

    stored = messages(client, first["conversation_id"], None)

    assert stored[-1].get("feedback") is None and stored[-1]["error_code"] == "UPSTREAM_ERROR"
    newest = client.get(f"/api/v1/conversations/{first['conversation_id']}?after={stored[-2]['message_id']}")
    assert [m.get("feedback") for m in newest.get_json()["messages"]] == [None]


def test_a_frontend_on_an_allowed_origin_may_rate(make_app, standin):
    client = make_app(CORS_ORIGINS="http://localhost:*", RATE_LIMITS="1000/minute").test_client()
    conversation_id, stored = asked(client, standin)
    path = feedback_path(conversation_id, stored[1]["message_id"])
    origin = {"Origin": "http://localhost:5173"}

    preflight = client.options(path, headers={**origin, "Access-Control-Request-Method": "PUT",
                                              "Access-Control-Request-Headers": "content-type"})
    rated = client.put(path, json={"rating": "up"}, headers=origin)

    assert preflight.status_code == 200 and "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert rated.status_code == 200 and rated.headers["Access-Control-Allow-Origin"] == origin["Origin"]
