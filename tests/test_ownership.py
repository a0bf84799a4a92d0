"""A conversation started with an API key belongs to that key: other keys cannot read, continue or delete it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.security.api_keys import key_id
from app.storage.models import Conversation, Message
from tests.deepseek_standin import Reply

pytestmark = pytest.mark.both_databases

KEY_A, KEY_B = "key-alpha-0123456789", "key-bravo-9876543210"


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=f"{KEY_A},{KEY_B}", RATE_LIMITS="100/minute")


def stored_messages(app, conversation_id):
    with app.app_context():
        return list(db.session.scalars(select(Message).where(Message.conversation_id == conversation_id)))


def test_the_owner_key_id_is_stored_never_the_key(keyed):
    cid = keyed.test_client().post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(KEY_A)) \
        .get_json()["conversation_id"]

    with keyed.app_context():
        conversation = db.session.get(Conversation, cid)
        assert conversation.owner_key_id == key_id(KEY_A.encode())
        assert KEY_A not in conversation.owner_key_id


def test_another_key_finds_nothing_as_if_it_did_not_exist(keyed, standin):
    client = keyed.test_client()
    cid = client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(KEY_A)).get_json()[
        "conversation_id"
    ]
    unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

    read = client.get(f"/api/v1/conversations/{cid}", headers=bearer(KEY_B))
    continued = client.post("/api/v1/chat", json={"message": "kale?", "conversation_id": cid}, headers=bearer(KEY_B))
    streamed = client.post("/api/v1/chat/stream", json={"message": "kale?", "conversation_id": cid},
                           headers=bearer(KEY_B))
    deleted = client.delete(f"/api/v1/conversations/{cid}", headers=bearer(KEY_B))
    never_existed = client.get(f"/api/v1/conversations/{unknown}", headers=bearer(KEY_B))

    for response in (read, continued, streamed, deleted):
        assert response.status_code == 404
        assert response.get_json()["error"] == never_existed.get_json()["error"]
    assert continued.get_json()["metadata"]["error_code"] == "CONVERSATION_NOT_FOUND"
    assert len(stored_messages(keyed, cid)) == 2 and standin.requests == []


def test_the_owner_reads_continues_and_deletes(keyed, standin):
    client = keyed.test_client()
    cid = client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(KEY_A)).get_json()[
        "conversation_id"
    ]
    standin.push(Reply(content="Kale: yes."))

    continued = client.post("/api/v1/chat", json={"message": "kale?", "conversation_id": cid}, headers=bearer(KEY_A))
    read = client.get(f"/api/v1/conversations/{cid}", headers=bearer(KEY_A))
    deleted = client.delete(f"/api/v1/conversations/{cid}", headers=bearer(KEY_A))

    assert continued.status_code == 200 and continued.get_json()["content"] == "Kale: yes."
    assert read.status_code == 200 and len(read.get_json()["messages"]) == 4
    assert deleted.status_code == 204 and stored_messages(keyed, cid) == []


def test_conversations_without_an_owner_stay_open_and_owned_ones_stay_closed_when_keys_change(make_app):
    open_app = make_app()  # no API_KEYS: conversations have no owner
    unowned = open_app.test_client().post("/api/v1/chat", json={"message": "delivery hours"}).get_json()[
        "conversation_id"
    ]
    keyed_client = make_app(API_KEYS=f"{KEY_A},{KEY_B}").test_client()
    owned = keyed_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(KEY_A)).get_json()[
        "conversation_id"
    ]

    assert keyed_client.get(f"/api/v1/conversations/{unowned}", headers=bearer(KEY_B)).status_code == 200
    assert make_app().test_client().get(f"/api/v1/conversations/{owned}").status_code == 404  # keys turned off
