"""Failed helpdesk webhook events, for admins: the paged list and the retry, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpdesk import Answer, enqueue, new_conversation
from tests.staff import add_staff, bearer
from tests.support import read_log, wait_until

pytestmark = pytest.mark.both_databases

FAILED = "/api/v1/staff/webhooks/failed"


@pytest.fixture
def app(make_webhook_app, helpdesk):
    """An app whose dispatcher gives an event up after one attempt, while the helpdesk answers 500."""
    helpdesk.default = Answer(500)
    return make_webhook_app(start=True, WEBHOOK_MAX_ATTEMPTS=1)


@pytest.fixture
def admin(app):
    return bearer(add_staff(app, "Sam", "admin"))


@pytest.fixture
def failed(app, client, admin, helpdesk):
    """Three events (one conversation each) the dispatcher gave up on; their event ids, oldest first."""
    for _ in range(3):
        enqueue(app, new_conversation(app))
    helpdesk.wait_for(3, accepted=False)
    assert wait_until(lambda: len(client.get(FAILED, headers=admin).get_json()["events"]) == 3, timeout=15)
    return [item.event_id for item in helpdesk.received]


def test_admins_page_through_failed_events_newest_first(client, admin, failed):
    first = client.get(f"{FAILED}?limit=2", headers=admin)
    body = first.get_json()

    assert first.status_code == 200
    assert [event["event_id"] for event in body["events"]] == failed[:0:-1]
    assert body["has_more"] is True and body["next"] == f"{FAILED}?before={body['events'][-1]['id']}&limit=2"
    event = body["events"][0]
    assert set(event) == {"id", "event", "event_id", "conversation_id", "attempts", "last_error", "created_at",
                          "last_attempt_at", "failed_at"}
    assert (event["event"], event["attempts"], event["last_error"]) == ("handoff.requested", 1, "HTTP 500")
    assert event["failed_at"] >= event["last_attempt_at"] >= event["created_at"]
    rest = client.get(body["next"], headers=admin).get_json()
    assert [item["event_id"] for item in rest["events"]] == failed[:1]
    assert (rest["has_more"], rest["next"]) == (False, None)


def test_a_retried_event_is_sent_again_with_its_id_and_a_fresh_count(app, client, admin, failed, helpdesk, log_file):
    helpdesk.default = Answer(200)
    oldest = client.get(FAILED, headers=admin).get_json()["events"][-1]

    retried = client.post(f"{FAILED}/{oldest['id']}/retry", headers=admin)
    [delivered] = helpdesk.wait_for(1)

    assert retried.status_code == 202 and retried.get_json() == {"id": oldest["id"], "status": "pending"}
    assert delivered.event_id == oldest["event_id"] == failed[0]
    assert delivered.headers["x-delivery-attempt"] == "1" and delivered.signed
    assert wait_until(lambda: len(client.get(FAILED, headers=admin).get_json()["events"]) == 2, timeout=15)
    again = client.post(f"{FAILED}/{oldest['id']}/retry", headers=admin)  # delivered now: not failed
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "WEBHOOK_EVENT_NOT_FOUND"
    assert [line["outbox_id"] for line in read_log(log_file) if line["event"] == "webhook_requeued"] == [oldest["id"]]


@pytest.mark.parametrize("path", ["/999999/retry", "/0/retry", "/2147483648/retry", "/996976460664943547610040369152/retry"])
def test_retrying_an_event_that_did_not_fail_is_404(client, admin, path):
    response = client.post(FAILED + path, headers=admin)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "WEBHOOK_EVENT_NOT_FOUND"


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "before=0", "before=-1", "before=99999999999"])
def test_a_bad_page_is_refused(client, admin, query):
    response = client.get(f"{FAILED}?{query}", headers=admin)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize(("method", "path"), [("get", FAILED), ("post", f"{FAILED}/1/retry")])
def test_only_admins_see_or_retry_failed_events(app, client, method, path):
    agent = bearer(add_staff(app, "Dana", "agent"))

    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, headers=bearer("ggs_not-a-token")).status_code == 401
    refused = getattr(client, method)(path, headers=agent)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "FORBIDDEN"
