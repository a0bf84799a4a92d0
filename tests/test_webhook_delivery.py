"""The helpdesk webhook's POSTs: what the helpdesk receives, signatures, retries, refusals, timeouts, settings.

Every delivery goes over real HTTP to tests/helpdesk.py, which checks the signature over
the raw body as a helpdesk would, and fails, stalls or goes down when told to. The outbox
itself (claims, leases, order, restarts, races) is tested on both databases in
tests/test_webhooks.py; these tests are about the conversation with the helpdesk.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest

from app import create_app
from app.services.webhooks import EVENTS
from app.services.webhooks.dispatcher import backoff
from app.services.webhooks.helpdesk import retry_after
from app.storage.models import utcnow
from tests.helpdesk import PATH, WEBHOOK_SECRET, Answer, enqueue, metric, new_conversation, outbox
from tests.support import read_log, wait_until

TRANSCRIPT = [
    {"message_id": 1, "role": "user", "content": "My order 5521 arrived with squashed kiwis", "created_at": "x"},
    {"message_id": 2, "role": "user", "content": "can I talk to a human", "created_at": "y"},
]


def test_an_event_is_posted_signed_with_its_id_type_and_attempt(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    conversation_id = new_conversation(app)

    enqueue(app, conversation_id, data={"trigger": "customer_words", "reason": "asked for a person",
                                        "transcript": TRANSCRIPT})
    [received] = helpdesk.wait_for(1)

    body = received.body
    assert received.path == PATH
    assert received.signed
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", received.headers["x-signature-256"])
    assert list(body) == ["event", "event_id", "occurred_at", "conversation_id", "data"]
    assert body["event"] == "handoff.requested" == received.headers["x-event-type"]
    assert body["event_id"] == received.headers["x-event-id"]
    assert body["conversation_id"] == conversation_id
    assert body["data"] == {"trigger": "customer_words", "reason": "asked for a person", "transcript": TRANSCRIPT}
    assert datetime.fromisoformat(body["occurred_at"]).utcoffset() == timedelta(0)
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-delivery-attempt"] == "1"
    assert wait_until(lambda: outbox(app)[0].status == "delivered", timeout=15)
    [row] = outbox(app)
    assert (row.event_id, row.attempts, row.last_error) == (body["event_id"], 1, None)
    assert row.finished_at is not None and row.lock_token is None


def test_every_event_name_can_be_sent_and_others_are_refused(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    conversation_id = new_conversation(app)

    for event in EVENTS:
        enqueue(app, conversation_id, event, {"state": "agent"})
    with pytest.raises(ValueError, match="unknown webhook event 'handoff.claimed'"):
        enqueue(app, conversation_id, "handoff.claimed")

    assert [item.body["event"] for item in helpdesk.wait_for(3)] == list(EVENTS)


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Answer(500), "HTTP 500"),
        (Answer(503, headers={"Retry-After": "0"}), "HTTP 503"),
        (Answer(429), "HTTP 429"),
        (Answer(408), "HTTP 408"),
        (Answer(drop=True), "RemoteProtocolError"),
    ],
    ids=["500", "503", "429", "408", "dropped"],
)
def test_a_failed_attempt_is_retried_with_the_same_bytes_and_event_id(make_webhook_app, helpdesk, log_file,
                                                                     failure, error):
    app = make_webhook_app(start=True)
    before = {outcome: metric(app, "webhook_deliveries_total", outcome=outcome) for outcome in ("retry", "delivered")}
    helpdesk.push(failure, failure)

    enqueue(app, new_conversation(app))
    [delivered] = helpdesk.wait_for(1)

    first, second, third = helpdesk.received
    assert first.raw == second.raw == third.raw and first.event_id == third.event_id == delivered.event_id
    assert [item.headers["x-delivery-attempt"] for item in (first, second, third)] == ["1", "2", "3"]
    assert all(item.signed for item in helpdesk.received)
    assert wait_until(lambda: outbox(app)[0].status == "delivered", timeout=15)
    assert outbox(app)[0].attempts == 3
    assert metric(app, "webhook_deliveries_total", outcome="retry") == before["retry"] + 2
    assert metric(app, "webhook_deliveries_total", outcome="delivered") == before["delivered"] + 1
    lines = [line for line in read_log(log_file) if line["event"] == "webhook_delivery"]
    assert [(line["outcome"], line["attempt"], line["error"]) for line in lines] == [
        ("retry", 1, error), ("retry", 2, error), ("delivered", 3, None)
    ]


def test_a_helpdesk_that_is_down_gets_the_event_once_it_is_back(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    helpdesk.down()

    enqueue(app, new_conversation(app))
    assert wait_until(lambda: outbox(app)[0].attempts >= 2, timeout=15)
    assert outbox(app)[0].status == "pending" and outbox(app)[0].last_error == "ConnectError"
    helpdesk.up()

    [received] = helpdesk.wait_for(1)
    assert received.signed and received.event_id == outbox(app)[0].event_id
    assert wait_until(lambda: outbox(app)[0].status == "delivered", timeout=15)


def test_a_helpdesk_that_does_not_answer_in_time_is_tried_again(make_webhook_app, helpdesk, log_file):
    app = make_webhook_app(start=True, WEBHOOK_TIMEOUT=0.5)
    helpdesk.push(Answer(delay=3.0))  # answers long after the attempt gave up

    enqueue(app, new_conversation(app))
    assert wait_until(lambda: outbox(app)[0].status == "delivered", timeout=15)

    lines = [line for line in read_log(log_file) if line["event"] == "webhook_delivery"]
    assert [(line["outcome"], line["error"]) for line in lines] == [("retry", "timeout"), ("delivered", None)]
    assert lines[0]["duration_ms"] < 2500  # the attempt ended at its timeout, not when the helpdesk answered
    assert [item.headers["x-delivery-attempt"] for item in helpdesk.received] == ["1", "2"]


@pytest.mark.parametrize("answer", [Answer(202, body_size=1024 * 1024), Answer(200, body_size=1000, cut=True)],
                         ids=["a long body", "a body cut short"])
def test_the_status_decides_whatever_the_body(make_webhook_app, helpdesk, answer):
    app = make_webhook_app(start=True)
    helpdesk.push(answer)

    enqueue(app, new_conversation(app))
    enqueue(app, new_conversation(app))  # on a new connection if the first one could not be kept
    helpdesk.wait_for(2)

    assert wait_until(lambda: [(row.status, row.attempts) for row in outbox(app)] == [("delivered", 1)] * 2,
                      timeout=15)


@pytest.mark.slow  # waits out the helpdesk's 2 s
def test_retry_after_sets_the_next_attempt(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    helpdesk.push(Answer(429, headers={"Retry-After": "2"}))

    enqueue(app, new_conversation(app))
    assert wait_until(lambda: outbox(app)[0].last_error == "HTTP 429", timeout=15)

    row = outbox(app)[0]
    assert row.status == "pending"
    assert timedelta(seconds=2) <= row.next_attempt_at - row.last_attempt_at < timedelta(seconds=3)
    assert len(helpdesk.received) == 1  # nothing before the helpdesk's time
    helpdesk.wait_for(1)


@pytest.mark.parametrize("status", [400, 404, 410, 301])
def test_a_refusal_fails_at_once_and_later_events_of_the_conversation_still_go(make_webhook_app, helpdesk, status):
    app = make_webhook_app(start=True)
    before = metric(app, "webhook_deliveries_total", outcome="failed")
    helpdesk.push(Answer(status, headers={"Location": helpdesk.url}))
    conversation_id = new_conversation(app)

    enqueue(app, conversation_id, "handoff.requested")
    enqueue(app, conversation_id, "message.created")
    [accepted] = helpdesk.wait_for(1)

    failed, delivered = outbox(app)
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, f"HTTP {status}")
    assert accepted.event_id == delivered.event_id and accepted.body["event"] == "message.created"
    assert metric(app, "webhook_deliveries_total", outcome="failed") == before + 1


def test_after_max_attempts_the_event_is_failed_and_counted(make_webhook_app, helpdesk, log_file):
    app = make_webhook_app(start=True, WEBHOOK_MAX_ATTEMPTS=3)
    helpdesk.default = Answer(502)

    enqueue(app, new_conversation(app))
    assert wait_until(lambda: outbox(app)[0].status == "failed", timeout=15)

    [row] = outbox(app)
    assert (row.attempts, row.last_error) == (3, "HTTP 502")
    assert len(helpdesk.received) == 3
    assert wait_until(lambda: metric(app, "webhook_outbox_events", status="failed") == 1, timeout=15)
    assert metric(app, "webhook_outbox_events", status="pending") == 0
    text_of_log = log_file.read_text()
    assert WEBHOOK_SECRET not in text_of_log and "squashed kiwis" not in text_of_log
    [failed_line] = [line for line in read_log(log_file) if line.get("outcome") == "failed"]
    assert failed_line["level"] == "error" and failed_line["conversation_id"] != row.conversation_id  # hashed


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"HANDOFF_WEBHOOK_URL": "https://helpdesk.example/hooks"}, "HANDOFF_WEBHOOK_SECRET must be set"),
        ({"HANDOFF_WEBHOOK_URL": "ftp://helpdesk.example/hooks", "HANDOFF_WEBHOOK_SECRET": "s"},
         "HANDOFF_WEBHOOK_URL must be an http:// or https:// URL"),
        ({"HANDOFF_WEBHOOK_URL": "https:///hooks", "HANDOFF_WEBHOOK_SECRET": "s"},
         "HANDOFF_WEBHOOK_URL must be an http:// or https:// URL"),
        ({"WEBHOOK_MAX_ATTEMPTS": 0}, "WEBHOOK_MAX_ATTEMPTS must be at least 1, got 0"),
        ({"WEBHOOK_RETENTION_DAYS": -1}, "WEBHOOK_RETENTION_DAYS must be at least 0, got -1"),
        ({"WEBHOOK_TIMEOUT": 0.0}, "WEBHOOK_TIMEOUT must be more than 0"),
        ({"WEBHOOK_POLL_SECONDS": -1.0}, "WEBHOOK_POLL_SECONDS must be more than 0"),
        ({"WEBHOOK_RETRY_BACKOFF": -0.5}, "WEBHOOK_RETRY_BACKOFF must not be negative"),
    ],
)
def test_settings_the_webhook_cannot_work_with_stop_the_app(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        create_app({"FLASK_ENV": "testing", "LOG_FILE": "", **settings})


def test_the_wait_doubles_with_jitter_honours_retry_after_and_is_an_hour_at_most():
    for attempt, middle in ((1, 10.0), (2, 20.0), (4, 80.0)):
        assert all(0.8 * middle <= backoff(attempt, 10.0) <= 1.2 * middle for _ in range(100))
    assert backoff(1, 10.0, asked=120.0) == 120.0
    assert all(2880.0 <= backoff(60, 10.0) <= 3600.0 for _ in range(100))
    assert backoff(1, 10.0, asked=86400.0) == 3600.0


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [(b"7", 7.0, 7.0), ("in 30 s", 28.0, 30.0), (b"Mon, 01 Jan 2001 00:00:00 GMT", 0.0, 0.0),
     (b"Mon, 01 Jan 2001 00:00:00 -0000", 0.0, 0.0), (b"soon", None, None), (b"-3", None, None)],
    ids=["seconds", "date", "past date", "date without zone", "garbage", "negative"],
)
def test_retry_after_is_read_in_seconds_or_as_a_date(value, low, high):
    if value == "in 30 s":
        value = format_datetime(utcnow() + timedelta(seconds=30), usegmt=True).encode()
    found = retry_after([(b"Content-Type", b"application/json"), (b"Retry-After", value)])

    assert (found is None) if low is None else (low <= found <= high)
