"""The support team's side of a handoff through HTTP: queue, claim, transcript, reply, release, close, live events."""

from __future__ import annotations

import json
import threading

import pytest

from app.extensions import db
from tests import sse
from tests.handoff import events_of, handed_off, new_conversation, staff_call
from tests.helpdesk import metric, outbox
from tests.staff import add_staff, bearer
from tests.support import wait_until

UNKNOWN = "7d0b5e0e-7b8a-4c0e-9a39-5f9b6e7c4d21"


@pytest.fixture
def app(make_app):
    """An app whose customers may send a support desk's share of messages."""
    return make_app(RATE_LIMITS="1000/minute")


@pytest.fixture
def agents(app):
    """Two agents and an admin: their tokens."""
    return add_staff(app, "Dana"), add_staff(app, "Sam"), add_staff(app, "Ada", "admin")


@pytest.mark.both_databases
def test_one_agent_claims_and_the_other_is_refused(app, client, agents):
    dana, sam, _ = agents
    conversation_id = handed_off(client)

    won = staff_call(client, "POST", f"/conversations/{conversation_id}/claim", dana)
    lost = staff_call(client, "POST", f"/conversations/{conversation_id}/claim", sam)
    again = staff_call(client, "POST", f"/conversations/{conversation_id}/claim", dana)

    assert won.status_code == again.status_code == 200
    assert won.get_json() == {"conversation_id": conversation_id, "state": "agent", "agent": "Dana"}
    assert lost.status_code == 409 and lost.get_json()["error"]["code"] == "ALREADY_CLAIMED"
    assert events_of(client, conversation_id) == [("handoff", "waiting"), ("claimed", "agent")]
    customer_view = client.get(f"/api/v1/conversations/{conversation_id}").get_json()
    assert (customer_view["state"], customer_view["agent"]) == ("agent", "Dana")
    assert customer_view["messages"][-1]["author"] == "Dana"


def test_a_conversation_the_bot_has_cannot_be_claimed(client, agents):
    conversation_id = new_conversation(client)

    response = staff_call(client, "POST", f"/conversations/{conversation_id}/claim", agents[0])

    assert response.status_code == 409 and response.get_json()["error"]["code"] == "ALREADY_CLAIMED"


@pytest.mark.parametrize("action", ["claim", "release", "close", "messages"])
def test_unknown_or_malformed_conversations_are_404(client, agents, action):
    for conversation_id in (UNKNOWN, "not-a-uuid"):
        response = staff_call(client, "POST", f"/conversations/{conversation_id}/{action}", agents[0],
                              {"content": "hi"})
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "CONVERSATION_NOT_FOUND"
    assert staff_call(client, "GET", f"/conversations/{UNKNOWN}", agents[0]).status_code == 404


@pytest.mark.parametrize("path", ["/queue", "/events", f"/conversations/{UNKNOWN}"])
def test_the_staff_routes_need_a_staff_token(client, path):
    response = client.get(f"/api/v1/staff{path}", headers=bearer("not-a-token"))

    assert response.status_code == 401 and response.get_json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.both_databases
def test_only_the_holder_writes_and_the_customer_sees_the_agents_name(client, agents):
    dana, sam, _ = agents
    conversation_id = handed_off(client)
    before_claim = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", dana, {"content": "Hi"})
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", dana)

    refused = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", sam, {"content": "Hi"})
    sent = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", dana,
                      {"content": "  Hi, I'm Dana. Let me look.  "})

    assert before_claim.status_code == refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "NOT_ASSIGNED"
    assert sent.status_code == 201
    body = sent.get_json()
    assert (body["role"], body["author"], body["content"]) == ("agent", "Dana", "Hi, I'm Dana. Let me look.")
    last = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"][-1]
    assert (last["message_id"], last["role"], last["author"], last["feedback"]) == (
        body["message_id"], "agent", "Dana", None)
    newer = client.get(f"/api/v1/conversations/{conversation_id}?after={body['message_id'] - 1}").get_json()
    assert [message["message_id"] for message in newer["messages"]] == [body["message_id"]]


def test_card_numbers_in_an_agents_message_are_masked(client, agents):
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", agents[0])

    sent = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", agents[0],
                      {"content": "Is it 4111 1111 1111 1111?"}).get_json()

    assert "4111 1111 1111 1111" not in sent["content"] and "1111" in sent["content"]
    stored = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"][-1]
    assert stored["content"] == sent["content"]


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "   "}, {"content": 3}, {"content": "x" * 4001}])
def test_an_agents_message_must_be_text(client, agents, body):
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", agents[0])

    response = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", agents[0], body)

    assert response.status_code == 400 and response.get_json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.both_databases
def test_release_puts_it_back_in_the_queue_and_close_ends_it(client, agents):
    dana, sam, ada = agents
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", dana)

    assert staff_call(client, "POST", f"/conversations/{conversation_id}/release", sam).status_code == 409
    released = staff_call(client, "POST", f"/conversations/{conversation_id}/release", dana)
    assert released.status_code == 200 and released.get_json()["state"] == "waiting"
    assert staff_call(client, "POST", f"/conversations/{conversation_id}/release", dana).status_code == 409
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", sam)
    refused = staff_call(client, "POST", f"/conversations/{conversation_id}/close", dana)
    closed = staff_call(client, "POST", f"/conversations/{conversation_id}/close", sam, {"note": "refund sent"})

    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "NOT_ASSIGNED"
    assert closed.status_code == 200 and closed.get_json()["state"] == "closed"
    assert events_of(client, conversation_id) == [
        ("handoff", "waiting"), ("claimed", "agent"), ("released", "waiting"), ("claimed", "agent"),
        ("closed", "closed")]
    customer_view = client.get(f"/api/v1/conversations/{conversation_id}").get_json()
    assert "refund sent" not in json.dumps(customer_view)  # the note is for staff only
    staff_view = staff_call(client, "GET", f"/conversations/{conversation_id}", ada).get_json()
    assert staff_view["messages"][-1]["detail"] == "refund sent"


def test_an_admin_may_close_a_conversation_another_holds_or_one_waiting(client, agents):
    dana, _, ada = agents
    held, waiting = handed_off(client), handed_off(client)
    staff_call(client, "POST", f"/conversations/{held}/claim", dana)

    assert staff_call(client, "POST", f"/conversations/{held}/close", ada).status_code == 200
    assert staff_call(client, "POST", f"/conversations/{waiting}/close", ada).status_code == 200
    assert staff_call(client, "POST", f"/conversations/{waiting}/close", ada).status_code == 409


@pytest.mark.both_databases
def test_the_queue_lists_waiting_oldest_first_and_the_callers_own(client, agents):
    dana, sam, _ = agents
    first = handed_off(client, reason="squashed kiwis")
    second = handed_off(client)
    client.post("/api/v1/chat", json={"message": "still there?", "conversation_id": second})
    held = handed_off(client)
    staff_call(client, "POST", f"/conversations/{held}/claim", dana)

    queue = staff_call(client, "GET", "/queue", dana).get_json()
    others = staff_call(client, "GET", "/queue", sam).get_json()

    assert [item["conversation_id"] for item in queue["waiting"]] == [first, second]
    entry = queue["waiting"][0]
    assert set(entry) == {"conversation_id", "state", "waiting_since", "waiting_seconds", "trigger", "reason",
                          "last_customer_message", "agent"}
    assert (entry["state"], entry["trigger"], entry["reason"]) == ("waiting", "customer_button", "squashed kiwis")
    assert entry["waiting_seconds"] >= 0
    assert queue["waiting"][1]["last_customer_message"] == "still there?"
    assert [(item["conversation_id"], item["agent"]) for item in queue["mine"]] == [(held, "Dana")]
    assert others["mine"] == []


def test_the_staff_transcript_has_triggers_reasons_and_after(client, agents):
    conversation_id = handed_off(client, reason="squashed kiwis")
    transcript = staff_call(client, "GET", f"/conversations/{conversation_id}", agents[0]).get_json()

    assert (transcript["state"], transcript["trigger"], transcript["reason"]) == (
        "waiting", "customer_button", "squashed kiwis")
    assert transcript["waiting_since"] is not None
    event = [message for message in transcript["messages"] if message["role"] == "event"][0]
    assert (event["event"], event["trigger"], event["detail"]) == ("handoff", "customer_button", "squashed kiwis")
    last_id = transcript["messages"][-1]["message_id"]
    newer = staff_call(client, "GET", f"/conversations/{conversation_id}?after={last_id}", agents[0]).get_json()
    assert newer["messages"] == []


def test_time_to_claim_is_measured(app, client, agents):
    before = metric(app, "handoff_claim_seconds_count")
    conversation_id = handed_off(client)

    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", agents[0])

    assert metric(app, "handoff_claim_seconds_count") == before + 1
    assert metric(app, "conversations_waiting") == 0


def test_closing_and_agents_messages_reach_the_outbox(make_app):
    app = make_app(HANDOFF_WEBHOOK_URL="http://127.0.0.1:9/hook", HANDOFF_WEBHOOK_SECRET="s3cret")
    client = app.test_client()
    token = add_staff(app, "Dana")
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", token)
    staff_call(client, "POST", f"/conversations/{conversation_id}/messages", token, {"content": "Hello"})
    staff_call(client, "POST", f"/conversations/{conversation_id}/close", token, {"note": "done"})

    events = [(row.event, json.loads(row.payload)["data"]) for row in outbox(app)]
    assert [event for event, _ in events] == ["handoff.requested", "message.created", "conversation.closed"]
    assert (events[1][1]["message"]["role"], events[1][1]["message"]["author"]) == ("agent", "Dana")
    assert events[2][1] == {"trigger": "customer_button", "reason": None, "agent": "Dana", "note": "done"}


def idle_pool(app) -> bool:
    """Return whether the app's pool has every connection back (soon: a stream re-reads between heartbeats)."""
    with app.app_context():
        return wait_until(lambda: db.engine.pool.checkedout() == 0, 2.0, interval=0.01)


def read_until(response, wanted, limit=200):
    """Read a live stream's events until one named `wanted` arrives; return every event read (no comments)."""
    seen = []
    for count, event in enumerate(sse.read_events(response)):
        if event.event != ":":
            seen.append(event)
            if event.event == wanted:
                return seen
        assert count < limit, seen
    return seen


def test_the_customer_stream_carries_agent_messages_and_states_and_ends_when_closed(live_app):
    app, base_url = live_app
    client = app.test_client()
    token = add_staff(app, "Dana")
    conversation_id = handed_off(client)
    last = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"][-1]["message_id"]
    stream = sse.open_get_stream(base_url, f"/api/v1/conversations/{conversation_id}/events?after={last}")
    assert stream.status == 200 and stream.getheader("Content-Type").startswith("text/event-stream")

    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", token)
    claimed = read_until(stream, "state")
    sent = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", token, {"content": "Hi!"})
    message = read_until(stream, "message")
    staff_call(client, "POST", f"/conversations/{conversation_id}/close", token)
    closing = read_until(stream, "state")

    assert claimed[-1].data == {"state": "agent", "agent": "Dana", "message_id": claimed[-1].data["message_id"],
                                "event": "claimed"}
    assert message[-1].data["message_id"] == sent.get_json()["message_id"]
    agent_message = message[-1].data
    assert (agent_message["author"], agent_message["content"], agent_message["role"]) == ("Dana", "Hi!", "agent")
    assert closing[-1].data["state"] == "closed"
    assert stream.read() == b""  # the stream ended after the closed state


def test_last_event_id_resumes_after_the_last_event_received(live_app):
    app, base_url = live_app
    client = app.test_client()
    token = add_staff(app, "Dana")
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", token)
    first = staff_call(client, "POST", f"/conversations/{conversation_id}/messages", token, {"content": "one"})
    staff_call(client, "POST", f"/conversations/{conversation_id}/messages", token, {"content": "two"})

    stream = sse.open_get_stream(base_url, f"/api/v1/conversations/{conversation_id}/events",
                                 {"Last-Event-ID": str(first.get_json()["message_id"])})
    [event] = read_until(stream, "message")

    assert event.data["content"] == "two"
    stream.close()


def test_the_customer_stream_of_an_unknown_conversation_is_404(client):
    response = client.get(f"/api/v1/conversations/{UNKNOWN}/events")

    assert response.status_code == 404


def test_the_customer_stream_sends_heartbeats_and_holds_no_connection_while_idle(live_app):
    app, base_url = live_app  # STREAM_HEARTBEAT_SECONDS=0.1
    conversation_id = handed_off(app.test_client())
    stream = sse.open_get_stream(base_url, f"/api/v1/conversations/{conversation_id}/events")

    events = sse.read_events(stream)
    comments = [next(events), next(events), next(events)]

    assert [event.event for event in comments] == [":", ":", ":"]
    assert [event.data for event in comments] == ["listening", "heartbeat", "heartbeat"]
    assert idle_pool(app)
    stream.close()


def test_the_staff_stream_tells_of_queue_changes_and_of_messages_in_the_callers_conversations(live_app):
    app, base_url = live_app
    client = app.test_client()
    dana, sam = add_staff(app, "Dana"), add_staff(app, "Sam")
    mine, theirs = handed_off(client), handed_off(client)
    staff_call(client, "POST", f"/conversations/{mine}/claim", dana)
    staff_call(client, "POST", f"/conversations/{theirs}/claim", sam)
    stream = sse.open_get_stream(base_url, "/api/v1/staff/events", bearer(dana))
    assert stream.status == 200
    assert read_until(stream, "queue")[-1].data == {"conversation_id": None}  # read the queue at once

    client.post("/api/v1/chat", json={"message": "not for Dana", "conversation_id": theirs})
    client.post("/api/v1/chat", json={"message": "for Dana", "conversation_id": mine})
    message = read_until(stream, "message")[-1]
    threading.Thread(target=lambda: handed_off(client), daemon=True).start()
    queued = read_until(stream, "queue")[-1]

    assert (message.data["conversation_id"], message.data["content"], message.data["role"]) == (
        mine, "for Dana", "user")
    assert queued.data["conversation_id"] is not None
    stream.close()


def test_the_helpdesk_receives_a_whole_handoff_signed_and_in_order(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    client = app.test_client()
    token = add_staff(app, "Dana")
    conversation_id = handed_off(client, reason="squashed kiwis")
    client.post("/api/v1/chat", json={"message": "hello?", "conversation_id": conversation_id})
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", token)
    staff_call(client, "POST", f"/conversations/{conversation_id}/close", token)

    received = helpdesk.wait_for(3)

    assert [item.body["event"] for item in received] == ["handoff.requested", "message.created", "conversation.closed"]
    assert all(item.signed and item.body["conversation_id"] == conversation_id for item in received)
    assert received[0].body["data"]["reason"] == "squashed kiwis"
    assert received[1].body["data"]["message"]["content"] == "hello?"


def test_while_an_agent_holds_it_the_customer_hears_who(client, agents):
    conversation_id = handed_off(client)
    staff_call(client, "POST", f"/conversations/{conversation_id}/claim", agents[0])

    response = client.post("/api/v1/chat", json={"message": "hi?", "conversation_id": conversation_id})

    assert response.status_code == 202
    assert (response.get_json()["state"], response.get_json()["agent"]) == ("agent", "Dana")


def test_the_staff_stream_holds_no_database_connection_while_idle(live_app):
    app, base_url = live_app  # STREAM_HEARTBEAT_SECONDS=0.1
    stream = sse.open_get_stream(base_url, "/api/v1/staff/events", bearer(add_staff(app, "Dana")))
    events = sse.read_events(stream)

    seen = [next(events).event for _ in range(3)]

    assert seen == ["queue", ":", ":"]
    assert idle_pool(app)
    stream.close()
