"""The helpdesk webhook: the outbox, the signed POSTs, retries, order, restarts and racing dispatchers.

Every delivery goes over real HTTP to tests/helpdesk.py, which checks the signature over
the raw body as a helpdesk would, and fails, stalls or goes down when told to. Each test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from flask import Flask
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.services.webhooks import EVENTS, HelpdeskWebhooks, start_dispatcher, stop_dispatcher
from app.services.webhooks.dispatcher import backoff
from app.services.webhooks.helpdesk import retry_after
from app.storage.models import WebhookEvent, utcnow
from tests.conftest import WEBHOOK_SECRET, read_log, sqlite_or_postgres, wait_until
from tests.helpdesk import PATH, Answer, enqueue, new_conversation

database_url = pytest.fixture(params=["sqlite", "postgresql"])(sqlite_or_postgres)  # both databases

TRANSCRIPT = [
    {"message_id": 1, "role": "user", "content": "My order 5521 arrived with squashed kiwis", "created_at": "x"},
    {"message_id": 2, "role": "user", "content": "can I talk to a human", "created_at": "y"},
]


def outbox(app: Flask) -> list[WebhookEvent]:
    """Return every outbox row, oldest first."""
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
        db.session.expunge_all()
        db.session.rollback()
        return rows


def metric(app: Flask, name: str, **labels: str) -> float:
    """Return a sample's value from the app's /metrics (0 when absent)."""
    wanted = name + "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"
    for line in app.test_client().get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


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


def test_without_a_webhook_url_nothing_is_written_and_no_dispatcher_runs(make_app, helpdesk):
    app = make_app()
    conversation_id = new_conversation(app)

    enqueue(app, conversation_id)

    assert outbox(app) == []
    assert start_dispatcher(app) is None
    stop_dispatcher(app)  # nothing to stop
    assert helpdesk.received == []


def test_an_event_enqueued_in_a_rolled_back_transaction_is_never_sent(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True)
    conversation_id = new_conversation(app)

    enqueue(app, conversation_id, "handoff.requested", {"reason": "rolled back"}, commit=False)
    enqueue(app, conversation_id, "message.created", {"reason": "committed"})
    helpdesk.wait_for(1)
    stop_dispatcher(app)  # nothing else can come now

    assert [item.body["data"]["reason"] for item in helpdesk.received] == ["committed"]
    assert [row.event for row in outbox(app)] == ["message.created"]


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


def test_events_of_one_conversation_go_in_order_and_others_do_not_wait_for_them(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True, WEBHOOK_RETRY_BACKOFF=1.0)  # the retry waits at least 0.8 s
    helpdesk.push(Answer(500))
    first, second = new_conversation(app), new_conversation(app)
    webhooks = app.extensions["webhooks"]

    with app.app_context():  # one transaction: the dispatcher sees all three at once
        connection = db.session.connection()
        webhooks.enqueue(connection, "handoff.requested", first, {"n": 1})
        webhooks.enqueue(connection, "message.created", first, {"n": 2})
        webhooks.enqueue(connection, "handoff.requested", second, {"n": 3})
        db.session.commit()
    webhooks.notify()

    accepted = helpdesk.wait_for(3)
    assert [item.body["data"]["n"] for item in accepted] == [3, 1, 2]
    assert [item.body["data"]["n"] for item in helpdesk.received] == [1, 3, 1, 2]


def test_a_dispatcher_whose_lease_ran_out_records_nothing_over_the_one_that_took_the_event(
    make_webhook_app, helpdesk, log_file
):
    app = make_webhook_app(WEBHOOK_TIMEOUT=30.0)
    webhooks = app.extensions["webhooks"]
    # A clock two minutes slow: its leases have run out when they are taken (instances' clocks must agree).
    slow = HelpdeskWebhooks(webhooks.settings, webhooks.store.engine, clock=lambda: utcnow() - timedelta(minutes=2))
    slow.start_dispatcher()
    helpdesk.hold()
    try:
        enqueue(app, new_conversation(app), webhooks=slow)
        helpdesk.wait_for(1, accepted=False)
        start_dispatcher(app)  # sees the lease as expired and takes the event over
        helpdesk.wait_for(2, accepted=False)
        helpdesk.release()
        assert wait_until(lambda: any(line["event"] == "webhook_lease_lost" for line in read_log(log_file)),
                          timeout=15)
    finally:
        slow.stop_dispatcher()

    first, second = helpdesk.received
    assert first.event_id == second.event_id  # the abnormal case: the helpdesk dedupes on X-Event-ID
    assert [first.headers["x-delivery-attempt"], second.headers["x-delivery-attempt"]] == ["1", "2"]
    [row] = outbox(app)
    assert (row.status, row.attempts) == ("delivered", 2)


def test_events_left_by_a_stopped_server_are_delivered_by_the_next_one(make_webhook_app, helpdesk):
    old = make_webhook_app()  # its dispatcher never ran: as if it stopped right after the commits
    conversation_id = new_conversation(old)
    for n in range(3):
        enqueue(old, conversation_id, "message.created", {"n": n})
    assert helpdesk.received == []

    new = make_webhook_app(start=True)

    assert [item.body["data"]["n"] for item in helpdesk.wait_for(3)] == [0, 1, 2]


def test_the_lease_of_a_dispatcher_that_died_mid_attempt_runs_out_and_another_delivers(make_webhook_app, helpdesk):
    dead = make_webhook_app()
    enqueue(dead, new_conversation(dead))
    now = utcnow()
    claimed = dead.extensions["webhooks"].store.claim(now, now + timedelta(seconds=1))  # then it "died"
    assert claimed is not None and claimed.attempt == 1

    make_webhook_app(start=True)
    [received] = helpdesk.wait_for(1)

    assert received.event_id == claimed.event_id
    assert received.headers["x-delivery-attempt"] == "2"
    assert len(helpdesk.received) == 1
    assert dead.extensions["webhooks"].store.delivered(claimed, utcnow()) is False  # its lease is gone


def test_two_dispatchers_racing_deliver_each_of_200_events_exactly_once_in_order(make_webhook_app, helpdesk):
    first, second = make_webhook_app(start=True), make_webhook_app(start=True)
    conversations = [new_conversation(first) for _ in range(20)]

    def produce(app: Flask, offset: int) -> None:
        for n in range(100):
            enqueue(app, conversations[(offset + n) % 20], "message.created", {"n": offset * 1000 + n})

    producers = [threading.Thread(target=produce, args=(app, offset)) for offset, app in ((0, first), (1, second))]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    accepted = helpdesk.wait_for(200, timeout=60)

    counts = Counter(item.event_id for item in helpdesk.received)
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert len(accepted) == 200 and all(item.signed for item in accepted)
    assert wait_until(lambda: {row.status for row in outbox(first)} == {"delivered"}, timeout=15)  # after the answer
    rows = outbox(first)
    assert {row.attempts for row in rows} == {1}
    for conversation_id in conversations:  # each conversation's events arrived in outbox order
        expected = [row.event_id for row in rows if row.conversation_id == conversation_id]
        assert [item.event_id for item in accepted if item.body["conversation_id"] == conversation_id] == expected


def test_enqueueing_returns_while_the_helpdesk_holds_a_delivery(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True, WEBHOOK_TIMEOUT=30.0)
    conversation_id = new_conversation(app)
    helpdesk.hold()

    enqueue(app, conversation_id, "handoff.requested")
    helpdesk.wait_for(1, accepted=False)  # the dispatcher's POST is in the helpdesk's hands
    enqueue(app, conversation_id, "message.created")  # the request path: a row insert and a commit
    enqueue(app, new_conversation(app), "handoff.requested")

    assert [item.status for item in helpdesk.received] == [None]  # still held: enqueueing did not wait for it
    assert [row.status for row in outbox(app)] == ["pending"] * 3
    helpdesk.release()
    helpdesk.wait_for(3)


def test_deleting_a_conversation_deletes_its_events(make_webhook_app, helpdesk):
    app = make_webhook_app()
    kept, erased = new_conversation(app), new_conversation(app)
    enqueue(app, kept)
    enqueue(app, erased)

    assert app.test_client().delete(f"/api/v1/conversations/{erased}").status_code == 204

    assert [row.conversation_id for row in outbox(app)] == [kept]


def test_purge_deletes_delivered_events_past_retention_only(make_webhook_app, helpdesk):
    app = make_webhook_app(start=True, WEBHOOK_MAX_ATTEMPTS=1)
    helpdesk.push(Answer(500))
    conversation_id = new_conversation(app)
    enqueue(app, conversation_id)
    enqueue(app, conversation_id)
    helpdesk.wait_for(1)
    assert wait_until(lambda: {row.status for row in outbox(app)} == {"failed", "delivered"}, timeout=15)
    stop_dispatcher(app)
    enqueue(app, conversation_id)  # stays pending
    runner = app.test_cli_runner()

    kept = runner.invoke(args=["webhooks", "purge"])
    purged = runner.invoke(args=["webhooks", "purge", "--older-than-days", "0"])

    assert kept.output.strip() == "Deleted 0 delivered events older than 7 days."
    assert purged.output.strip() == "Deleted 1 delivered event older than 0 days."
    assert [row.status for row in outbox(app)] == ["failed", "pending"]


def test_the_dispatcher_outlives_a_database_error(make_webhook_app, helpdesk, log_file):
    app = make_webhook_app(start=True)
    conversation_id = new_conversation(app)
    with app.app_context():
        db.session.execute(text("ALTER TABLE webhook_outbox RENAME TO webhook_outbox_away"))
        db.session.commit()
    assert wait_until(lambda: any(line["event"] == "webhook_dispatcher_error" for line in read_log(log_file)),
                      timeout=15)
    with app.app_context():
        db.session.execute(text("ALTER TABLE webhook_outbox_away RENAME TO webhook_outbox"))
        db.session.commit()

    enqueue(app, conversation_id)

    helpdesk.wait_for(1)


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
