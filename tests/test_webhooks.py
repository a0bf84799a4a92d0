"""The helpdesk webhook's outbox, on SQLite and PostgreSQL: written with the change, claimed once, in order.

Rolled-back events, order per conversation, restarts, expired and lost leases, 200 events
raced by two dispatchers, enqueueing that never waits for the helpdesk, deletion, purge, a
database error. The helpdesk is tests/helpdesk.py, over real HTTP.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text

from app.extensions import db
from app.services.webhooks import HelpdeskWebhooks, start_dispatcher, stop_dispatcher
from app.storage.models import utcnow
from tests.helpdesk import Answer, enqueue, new_conversation, outbox
from tests.support import read_log, wait_until

pytestmark = pytest.mark.both_databases


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


@pytest.mark.slow
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
