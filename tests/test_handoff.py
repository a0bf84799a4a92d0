"""Handoff through HTTP: the button, the customer's words, the model's tool call, the bot's silence, the offer."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from structlog.testing import capture_logs

from app import create_app
from app.metrics import CONVERSATIONS_WAITING
from tests import sse
from tests.deepseek_standin import Call, Reply
from tests.handoff import STRANGE_QUESTION, WORDS, events_of, handed_off, new_conversation
from tests.helpdesk import metric, outbox
from tests.staff import bearer


@pytest.mark.both_databases
def test_the_button_hands_off_once_and_again_changes_nothing(client, standin):
    conversation_id = new_conversation(client)

    first = client.post(f"/api/v1/conversations/{conversation_id}/handoff", json={"reason": "squashed kiwis"})
    again = client.post(f"/api/v1/conversations/{conversation_id}/handoff")

    assert first.status_code == again.status_code == 200
    body = first.get_json()
    assert list(body) == ["conversation_id", "state", "message_id", "content"]
    assert body["state"] == "waiting" and "person" in body["content"]
    assert again.get_json() == body  # idempotent: the same state and message, no new event
    assert events_of(client, conversation_id) == [("handoff", "waiting")]
    conversation = client.get(f"/api/v1/conversations/{conversation_id}").get_json()
    assert (conversation["state"], conversation["agent"]) == ("waiting", None)
    handoff_message = conversation["messages"][-1]
    assert (handoff_message["message_id"], handoff_message["role"], handoff_message["source"]) == (
        body["message_id"], "assistant", "handoff")
    assert all("detail" not in message and "trigger" not in message for message in conversation["messages"])


def test_the_button_on_an_unknown_conversation_is_404(client):
    response = client.post("/api/v1/conversations/7d0b5e0e-7b8a-4c0e-9a39-5f9b6e7c4d21/handoff")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "CONVERSATION_NOT_FOUND"


@pytest.mark.parametrize("body", [{"reason": 5}, {"reason": "x" * 1001}])
def test_a_reason_must_be_short_text(client, body):
    conversation_id = new_conversation(client)

    response = client.post(f"/api/v1/conversations/{conversation_id}/handoff", json=body)

    assert response.status_code == 400 and response.get_json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.both_databases
@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/chat/stream"])
def test_while_waiting_the_bot_is_silent_and_keeps_every_message(client, standin, path):
    conversation_id = handed_off(client)
    standin.reset()

    response = client.post(path, json={"message": "what are your delivery hours", "conversation_id": conversation_id})

    assert response.status_code == 202
    body = response.get_json()
    assert body == {"conversation_id": conversation_id, "state": "waiting", "message_id": body["message_id"],
                    "agent": None}
    assert standin.requests == []  # neither DeepSeek nor the FAQ answered
    last = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"][-1]
    assert (last["message_id"], last["role"], last["content"]) == (
        body["message_id"], "user", "what are your delivery hours")


@pytest.mark.parametrize("words", [WORDS, "agent please", "I want a real person", "speak to someone from support"])
def test_asking_for_a_person_in_words_hands_off_without_deepseek(client, standin, words):
    response = client.post("/api/v1/chat", json={"message": words})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["source"], body["state"]) == ("handoff", "waiting")
    assert body["message_id"] == body["metadata"]["message_id"]
    assert standin.requests == []
    assert events_of(client, body["conversation_id"]) == [("handoff", "waiting")]


@pytest.mark.parametrize(
    "question", ["can the delivery person leave it at the door?", "is my account manager's email on file?"]
)
def test_words_that_merely_mention_people_are_answered_by_the_bot(client, standin, question):
    standin.push(Reply(content="Of course."))

    body = client.post("/api/v1/chat", json={"message": question}).get_json()

    assert body["source"] != "handoff" and body["state"] == "bot"


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_every_deepseek_call_offers_the_hand_off_to_human_tool(client, standin, mode):
    client.post("/api/v1/chat" if mode == "json" else "/api/v1/chat/stream", json={"message": "Kale?"}).get_data()

    [tool] = standin.requests[0].body["tools"]
    assert tool["function"]["name"] == "hand_off_to_human"
    assert tool["function"]["parameters"]["required"] == ["reason"]
    assert tool["function"]["parameters"]["properties"]["reason"]["type"] == "string"


def test_the_models_call_turns_the_turn_into_a_handoff(app, client, standin):
    before = metric(app, "handoffs_total", trigger="model")
    standin.push(Reply(content="", tool_calls=[Call("hand_off_to_human", {"reason": "refund dispute"})]))

    response = client.post("/api/v1/chat", json={"message": "I was charged twice and I am furious"})

    body = response.get_json()
    assert response.status_code == 200
    assert (body["source"], body["state"]) == ("handoff", "waiting")
    assert "hand_off_to_human" not in body["content"] and "refund dispute" not in body["content"]
    assert metric(app, "handoffs_total", trigger="model") == before + 1


def test_the_models_streamed_call_in_pieces_is_meta_one_handoff_event_and_done(client, standin):
    call = Call("hand_off_to_human", {"reason": "wants to complain to a manager"})
    standin.push(Reply(content="", tool_calls=[call], chunk_size=4, reasoning="THINKING"))

    response = client.post("/api/v1/chat/stream", json={"message": "This is the third rotten box, I am done"})

    events = [event for event in sse.parse(response.get_data(as_text=True)) if event.event != ":"]
    assert [event.event for event in events] == ["meta", "handoff", "done"]
    meta, handoff, done = events
    assert meta.data["state"] == "bot"
    assert handoff.data["state"] == "waiting" and "person" in handoff.data["content"]
    assert (done.data["source"], done.data["state"], done.data["message_id"]) == (
        "handoff", "waiting", handoff.data["message_id"])
    assert "THINKING" not in response.get_data(as_text=True)


def test_the_words_trigger_streams_as_a_handoff_event_too(client, standin):
    response = client.post("/api/v1/chat/stream", json={"message": WORDS})

    events = [event.event for event in sse.parse(response.get_data(as_text=True)) if event.event != ":"]
    assert events == ["meta", "handoff", "done"]
    assert standin.requests == []


def failing_turn(client, path, conversation_id):
    """Ask a question DeepSeek fails on and no FAQ answers; return the error body (or the stream's error event)."""
    response = client.post(path, json={"message": STRANGE_QUESTION, "conversation_id": conversation_id})
    if path.endswith("/chat"):
        assert response.status_code == 502
        return response.get_json()
    [error] = [event.data for event in sse.parse(response.get_data(as_text=True)) if event.event == "error"]
    return error


@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/chat/stream"])
def test_handoff_is_offered_after_two_failed_turns_in_a_row(make_app, standin, path):
    client = make_app(DEEPSEEK_MAX_RETRIES=0, RATE_LIMITS="100/minute").test_client()
    conversation_id = new_conversation(client, "what are your delivery hours")
    standin.push(Reply(status=500, error="boom"), Reply(status=500, error="boom"))

    first = failing_turn(client, path, conversation_id)
    second = failing_turn(client, path, conversation_id)

    assert "handoff_available" not in first
    assert second["handoff_available"] is True
    assert second["error"]["code"] == "UPSTREAM_ERROR"


def test_an_answered_turn_resets_the_count(make_app, standin):
    client = make_app(DEEPSEEK_MAX_RETRIES=0, RATE_LIMITS="100/minute").test_client()
    conversation_id = new_conversation(client, "what are your delivery hours")
    standin.push(Reply(status=500), Reply(content="Fine now."), Reply(status=500))
    failing_turn(client, "/api/v1/chat", conversation_id)
    client.post("/api/v1/chat", json={"message": STRANGE_QUESTION, "conversation_id": conversation_id})

    third = failing_turn(client, "/api/v1/chat", conversation_id)

    assert "handoff_available" not in third


def test_outside_support_hours_the_customer_hears_when_the_team_is_back(make_app):
    app = make_app(SUPPORT_HOURS="Mon-Fri 08:00-18:00; Sat 09:00-13:00", SUPPORT_TIMEZONE="America/New_York",
                   SUPPORT_CONTACT="help@example.com")
    handoff = app.extensions["handoff"]
    client = app.test_client()

    handoff.clock = lambda: datetime(2026, 3, 7, 20, 0, tzinfo=timezone.utc)  # Saturday 15:00 in New York
    closed = client.post("/api/v1/chat", json={"message": WORDS}).get_json()["content"]
    handoff.clock = lambda: datetime(2026, 3, 9, 15, 0, tzinfo=timezone.utc)  # Monday 11:00 in New York
    open_ = client.post("/api/v1/chat", json={"message": WORDS}).get_json()["content"]

    assert "Monday at 08:00 (America/New_York)" in closed and "help@example.com" in closed
    assert "away" not in open_ and "help@example.com" not in open_


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SUPPORT_HOURS", "weekdays 9 to 5", "SUPPORT_HOURS"),
        ("SUPPORT_HOURS", "Mon-Fri 18:00-08:00", "SUPPORT_HOURS"),
        ("SUPPORT_HOURS", "Mon-Funday 08:00-18:00", "SUPPORT_HOURS"),
        ("SUPPORT_HOURS", "Mon 08:75-09:00", "SUPPORT_HOURS"),
        ("SUPPORT_TIMEZONE", "Mars/Olympus_Mons", "SUPPORT_TIMEZONE"),
        ("HANDOFF_AFTER_FAILURES", -1, "HANDOFF_AFTER_FAILURES"),
    ],
)
def test_a_bad_handoff_setting_stops_the_app(database_url, setting, value, named):
    with pytest.raises(ValueError, match=named):
        create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_TO_STDOUT": False, setting: value})


def test_hours_that_wrap_the_week_and_lists_of_days_are_read(make_app):
    app = make_app(SUPPORT_HOURS="Sat-Mon 10:00-12:00;; Wed, Fri 09:00-24:00")
    hours = app.extensions["handoff"].hours

    assert hours.is_open(datetime(2026, 3, 8, 11, 0, tzinfo=timezone.utc))  # a Sunday
    assert hours.is_open(datetime(2026, 3, 11, 23, 59, tzinfo=timezone.utc))  # a Wednesday, to midnight
    assert not hours.is_open(datetime(2026, 3, 10, 11, 0, tzinfo=timezone.utc))  # a Tuesday
    assert hours.next_opening(datetime(2026, 3, 10, 11, 0, tzinfo=timezone.utc)).day == 11


def test_a_customer_message_in_a_closed_conversation_returns_it_to_the_bot(app, client, standin):
    from tests.staff import add_staff
    from tests.handoff import staff_call

    token = add_staff(app, "Dana")
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", token)
    staff_call(client, "POST", f"/conversations/{conversation_id}/close", token, {"note": "sorted"})
    standin.push(Reply(content="Back to the bot."))

    body = client.post("/api/v1/chat", json={"message": "one more thing", "conversation_id": conversation_id})

    assert body.status_code == 200 and body.get_json()["state"] == "bot"
    assert body.get_json()["content"] == "Back to the bot."
    assert events_of(client, conversation_id) == [
        ("handoff", "waiting"), ("claimed", "agent"), ("closed", "closed"), ("reopened", "bot")]


def test_every_change_of_state_is_one_log_event_and_counted(app, client):
    before = metric(app, "handoffs_total", trigger="customer_button")
    with capture_logs() as logs:
        conversation_id = handed_off(client)

    [line] = [line for line in logs if line["event"] == "conversation_state_changed"]
    assert (line["conversation_id"], line["change"], line["state"], line["trigger"]) == (
        conversation_id, "handoff", "waiting", "customer_button")
    assert metric(app, "handoffs_total", trigger="customer_button") == before + 1
    assert metric(app, "conversations_waiting") == 1


def test_handoff_events_go_to_the_helpdesk_outbox(make_app, standin):
    app = make_app(HANDOFF_WEBHOOK_URL="http://127.0.0.1:9/hook", HANDOFF_WEBHOOK_SECRET="s3cret")
    client = app.test_client()
    conversation_id = new_conversation(client)
    client.post(f"/api/v1/conversations/{conversation_id}/handoff", json={"reason": "squashed kiwis"})
    client.post("/api/v1/chat", json={"message": "Hello? card 4111 1111 1111 1111", "conversation_id": conversation_id})

    handoff, message = [event for event in outbox(app)]
    assert (handoff.event, message.event) == ("handoff.requested", "message.created")
    import json

    data = json.loads(handoff.payload)["data"]
    assert (data["trigger"], data["reason"]) == ("customer_button", "squashed kiwis")
    assert [item["role"] for item in data["transcript"]] == ["user", "assistant", "assistant"]
    sent = json.loads(message.payload)["data"]
    assert (sent["trigger"], sent["reason"]) == ("customer_button", "squashed kiwis")
    assert sent["message"]["role"] == "user" and "4111 1111 1111 1111" not in sent["message"]["content"]


def test_the_waiting_gauge_is_counted_in_the_database_at_every_scrape(app, client):
    handed_off(client)
    CONVERSATIONS_WAITING.set(99)  # as another process might have left it

    assert metric(app, "conversations_waiting") == 1


def test_handoff_after_failures_0_never_offers_a_person(make_app, standin):
    client = make_app(DEEPSEEK_MAX_RETRIES=0, HANDOFF_AFTER_FAILURES=0).test_client()
    conversation_id = new_conversation(client, "what are your delivery hours")
    standin.push(Reply(status=500), Reply(status=500))

    bodies = [failing_turn(client, "/api/v1/chat", conversation_id) for _ in range(2)]

    assert all("handoff_available" not in body for body in bodies)


def test_a_call_of_a_tool_never_offered_without_text_is_an_upstream_error(client, standin):
    standin.push(Reply(content="", tool_calls=[Call("lookup_order", {"order_id": "GG-1"})]))

    response = client.post("/api/v1/chat", json={"message": STRANGE_QUESTION})

    assert response.status_code == 502 and response.get_json()["error"]["code"] == "UPSTREAM_ERROR"


def test_text_with_a_call_of_another_tool_is_the_answer(client, standin):
    standin.push(Reply(content="Here is what I know.", tool_calls=[Call("lookup_order", {"order_id": "GG-1"})]))

    body = client.post("/api/v1/chat", json={"message": STRANGE_QUESTION}).get_json()

    assert (body["source"], body["content"], body["state"]) == ("llm", "Here is what I know.", "bot")


@pytest.mark.parametrize("body", [None, {"reason": None}, {"reason": "   "}], ids=["empty", "null", "blank"])
def test_the_button_takes_an_empty_body_or_no_reason_too(client, body):
    conversation_id = new_conversation(client)

    response = client.post(f"/api/v1/conversations/{conversation_id}/handoff", content_type="application/json",
                           json=body)

    assert response.status_code == 200 and response.get_json()["state"] == "waiting"


def test_another_api_keys_conversation_can_be_neither_handed_off_nor_followed(make_app):
    client = make_app(API_KEYS="key-alpha-0123456789,key-bravo-9876543210").test_client()
    alpha, bravo = bearer("key-alpha-0123456789"), bearer("key-bravo-9876543210")
    conversation_id = client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=alpha).get_json()[
        "conversation_id"]

    handoff = client.post(f"/api/v1/conversations/{conversation_id}/handoff", headers=bravo)
    events = client.get(f"/api/v1/conversations/{conversation_id}/events", headers=bravo)
    own = client.post(f"/api/v1/conversations/{conversation_id}/handoff", headers=alpha)

    assert handoff.status_code == events.status_code == 404
    assert own.status_code == 200


def test_text_the_model_streams_before_its_call_is_followed_by_the_handoff_event(client, standin):
    call = Call("hand_off_to_human", {"reason": "wants a refund"})
    standin.push(Reply(content="Let me find someone for you.", tool_calls=[call], chunk_size=6))

    response = client.post("/api/v1/chat/stream", json={"message": STRANGE_QUESTION})

    events = [event for event in sse.parse(response.get_data(as_text=True)) if event.event != ":"]
    assert [event.event for event in events][-2:] == ["handoff", "done"]
    assert {event.event for event in events[1:-2]} == {"delta"}
    stored = client.get(f"/api/v1/conversations/{events[0].data['conversation_id']}").get_json()["messages"]
    assert [message["source"] for message in stored if message["role"] == "assistant"] == ["handoff"]
