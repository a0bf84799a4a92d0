"""Personal data in logs: message text only with LOG_MESSAGES, and then masked; hashed client addresses."""

from __future__ import annotations

import pytest

from app.utils.privacy import hash_address, mask_personal_data
from tests.conftest import read_log
from tests.deepseek_standin import Reply

QUESTION = "I'm jane.doe@example.com, card 4111 1111 1111 1111, call +1 (555) 123-4567 about my kale"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to jane.doe+veg@example.co.uk please", "write to [email] please"),
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("amex 378282246310005", "amex [card]"),
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
    assert "kale" not in text and "jane.doe" not in text and "4111" not in text


def test_with_log_messages_the_exchange_is_logged_masked(make_app, standin, log_file):
    client = make_app(LOG_MESSAGES=True).test_client()
    standin.push(Reply(content="Thanks jane.doe@example.com, your kale is on its way."), Reply(content="Streamed."))

    client.post("/api/v1/chat", json={"message": QUESTION})
    client.post("/api/v1/chat/stream", json={"message": QUESTION}).get_data()

    exchanges = [line for line in read_log(log_file) if line["event"] == "chat_exchange"]
    assert [line["answer"] for line in exchanges] == ["Thanks [email], your kale is on its way.", "Streamed."]
    assert exchanges[0]["question"] == "I'm [email], card [card], call [phone] about my kale"
    text = log_file.read_text(encoding="utf-8")
    assert "jane.doe" not in text and "4111" not in text and "123-4567" not in text


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
