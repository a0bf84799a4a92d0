"""Personal data in logs: message text only with LOG_MESSAGES, and then masked; hashed client addresses."""

from __future__ import annotations

import pytest

from sqlalchemy import select

from app.extensions import db
from app.storage.conversations import ConversationStore
from app.storage.models import Message
from app.utils.privacy import hash_address, mask_card_numbers, mask_personal_data
from tests.deepseek_standin import Reply
from tests.support import read_log

QUESTION = "I'm jane.doe@example.com, card 4111 1111 1111 1111, call +1 (555) 123-4567 about my kale"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to jane.doe+veg@example.co.uk please", "write to [email] please"),
        ("card 4111 1111 1111 1111 ok", "card [card ending 1111] ok"),
        ("card 4111-1111-1111-1111", "card [card ending 1111]"),
        ("card 4111.1111.1111.1111 and 4111/1111/1111/1111", "card [card ending 1111] and [card ending 1111]"),
        ("amex 378282246310005", "amex [card ending 0005]"),
        ("call +1 (555) 123-4567 or 555.123.4567", "call [phone] or [phone]"),
        ("phone +44 20 7946 0958", "phone [phone]"),
        ("2 apples at 10:30 on 2026-11-28", "2 apples at 10:30 on 2026-11-28"),
        ("order 12345 is late", "order 12345 is late"),
    ],
)
def test_personal_data_is_masked(text, masked):
    assert mask_personal_data(text) == masked


def test_message_text_is_not_logged_by_default(client, standin, log_file):
    standin.push(Reply(content="Your kale is on its way."))
    client.post("/api/v1/chat", json={"message": QUESTION})
    client.post("/api/v1/chat/stream", json={"message": QUESTION}).get_data()

    text = log_file.read_text(encoding="utf-8")
    assert "kale" not in text and "jane.doe" not in text and "4111 1111 1111 1111" not in text


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111.1111.1111.1111", "4111/1111/1111/1111"])
def test_with_log_messages_the_exchange_is_logged_masked(make_app, standin, log_file, card):
    client = make_app(LOG_MESSAGES=True).test_client()
    standin.push(Reply(content="Thanks jane.doe@example.com, your kale is on its way."), Reply(content="Streamed."))
    question = QUESTION.replace("4111 1111 1111 1111", card)

    client.post("/api/v1/chat", json={"message": question})
    client.post("/api/v1/chat/stream", json={"message": question}).get_data()

    exchanges = [line for line in read_log(log_file) if line["event"] == "chat_exchange"]
    assert [line["answer"] for line in exchanges] == ["Thanks [email], your kale is on its way.", "Streamed."]
    assert exchanges[0]["question"] == "I'm [email], card [card ending 1111], call [phone] about my kale"
    text = log_file.read_text(encoding="utf-8")
    assert "jane.doe" not in text and card not in text and "123-4567" not in text


def test_client_addresses_can_be_hashed(make_app, log_file):
    client = make_app(LOG_HASH_IP=True, LOG_HASH_SALT="pepper").test_client()

    client.get("/health")
    client.get("/health", environ_base={"REMOTE_ADDR": "198.51.100.2"})
    client.get("/health")

    addresses = [line["client_ip"] for line in read_log(log_file) if line["event"] == "request"]
    assert addresses == [hash_address("127.0.0.1", "pepper"), hash_address("198.51.100.2", "pepper"),
                         hash_address("127.0.0.1", "pepper")]
    assert "127.0.0.1" not in log_file.read_text(encoding="utf-8")
    assert hash_address("127.0.0.1", "pepper") != hash_address("127.0.0.1", "salt")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("4111 1111 1111 1111", "[card ending 1111]"),
        ("4111-1111-1111-1111", "[card ending 1111]"),
        ("4111.1111.1111.1111", "[card ending 1111]"),
        ("4111/1111/1111/1111", "[card ending 1111]"),
        ("4111111111111111", "[card ending 1111]"),
        ("4111 - 1111 - 1111 - 1111", "[card ending 1111]"),
        ("4111\u00a01111\u00a01111\u00a01111", "[card ending 1111]"),
        ("3782 822463 10005 (amex)", "[card ending 0005] (amex)"),
        ("card:5555555555554444.", "card:[card ending 4444]."),
        ("4222 2222 22222 (13 digits)", "[card ending 2222] (13 digits)"),
        ("cards 4111111111111111 / 5555.5555.5555.4444", "cards [card ending 1111] / [card ending 4444]"),
        ("call 555-123-4567 re 6011 1111 1111 1117", "call 555-123-4567 re [card ending 1117]"),
    ],
)
def test_card_numbers_in_any_separator_style_are_masked_keeping_the_last_four(text, masked):
    assert mask_card_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # fails the Luhn check: not a card number
        "order 1234567890123 is late",  # a 13-digit order number that fails the Luhn check
        "tracking 9876-5432-1098-7654",
        "order 12345 is late",
        "call +1 (555) 123-4567 or 555.123.4567",
        "delivered 2026-11-28 at 10:30, or 11/28/2026",
        "12345678901234567890123",  # too long to be a card number
        "1Z999AA10123456784",
        "4111 1111 1111",  # too short
    ],
)
def test_other_numbers_are_left_alone(text):
    assert mask_card_numbers(text) == text


CARD_QUESTION = "My card 4111.1111.1111.1111 was charged twice for the kale"


def test_a_card_number_is_neither_sent_to_deepseek_nor_stored(app, client, standin):
    standin.push(Reply(content="Sorry about that! I see card 4111/1111/1111/1111 in your message."),
                 Reply(content="Streamed answer."))

    answered = client.post("/api/v1/chat", json={"message": CARD_QUESTION}).get_json()
    streamed = client.post("/api/v1/chat/stream", json={"message": "Refund to 5555 5555 5555 4444 please"})
    history = client.get(f"/api/v1/conversations/{answered['conversation_id']}").get_json()

    sent = str([request.body for request in standin.requests])
    assert "4111" not in sent.replace("[card ending 1111]", "") and "5555 5555" not in sent
    assert "[card ending 1111]" in standin.requests[0].body["messages"][-1]["content"]
    assert "4111/1111" not in answered["content"] and "[card ending 1111]" in answered["content"]
    assert streamed.status_code == 200
    with app.app_context():
        stored = " ".join(m.content for m in db.session.scalars(select(Message)))
    assert "4111" not in stored.replace("[card ending 1111]", "") and "5555 5555" not in stored
    assert history["messages"][0]["content"] == "My card [card ending 1111] was charged twice for the kale"


def test_a_card_number_stored_before_masking_is_not_resent(app, client, standin):
    with app.app_context():  # a conversation from before card numbers were masked
        store = ConversationStore(db.session)
        cid, _ = store.start(CARD_QUESTION)
        store.add_message(cid, "assistant", "We will look into card 4111111111111111.", source="llm")

    client.post("/api/v1/chat", json={"message": "any news?", "conversation_id": cid})

    assert "4111" not in str(standin.requests[0].body).replace("[card ending 1111]", "")
