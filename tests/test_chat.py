"""POST /api/v1/chat answers: FAQ first, DeepSeek otherwise."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from app.services.chatbot_service import SYSTEM_PROMPT
from tests.deepseek_standin import Reply
from tests.prompts import FIXED_PREFIX
from tests.support import API_KEY

METADATA_KEYS = {
    "response_id", "message_id", "timestamp", "processing_time", "model", "assistant_version", "support_contact",
    "error_code",
}


def assert_metadata(metadata, *, model, error_code=None):
    assert set(metadata) == METADATA_KEYS
    assert uuid.UUID(metadata["response_id"]).version == 4
    stamp = datetime.fromisoformat(metadata["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 30
    assert isinstance(metadata["processing_time"], float) and metadata["processing_time"] >= 0
    assert metadata["model"] == model
    assert metadata["assistant_version"] == "1.0.0"
    assert metadata["support_contact"]
    assert metadata["error_code"] == error_code


@pytest.mark.parametrize(
    ("question", "faq_words"),
    [
        ("What are your delivery hours?", "8 AM to 8 PM EST"),
        ("  DELIVERY   HOURS on Sunday?", "8 AM to 8 PM EST"),
        ("How do I check my order status?", "My Orders"),
    ],
)
def test_faq_questions_are_answered_without_calling_deepseek(client, standin, question, faq_words):
    response = client.post("/api/v1/chat", json={"message": question})

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["content", "source", "conversation_id", "state", "message_id", "question_id", "metadata"]
    assert body["state"] == "bot" and body["message_id"] == body["metadata"]["message_id"] > body["question_id"]
    assert body["source"] == "faq"
    assert faq_words in body["content"]
    assert_metadata(body["metadata"], model=None)
    assert standin.requests == []


def test_faq_answers_even_without_an_api_key(make_app, standin):
    client = make_app(DEEPSEEK_API_KEY="").test_client()

    response = client.post("/api/v1/chat", json={"message": "order status please"})

    assert response.status_code == 200
    assert response.get_json()["source"] == "faq"
    assert standin.requests == []


def test_other_questions_are_answered_by_deepseek(client, standin):
    standin.push(Reply(content="Yes, we stock organic kale every day.", model="deepseek-chat"))

    response = client.post("/api/v1/chat", json={"message": "  Do you sell organic kale?  "})

    assert response.status_code == 200
    body = response.get_json()
    assert body["source"] == "llm"
    assert body["content"] == "Yes, we stock organic kale every day."
    assert_metadata(body["metadata"], model="deepseek-chat")


def test_deepseek_receives_the_design_prompt_and_settings(make_app, standin):
    client = make_app(DEEPSEEK_MODEL="deepseek-v9-test").test_client()

    client.post("/api/v1/chat", json={"message": "  Do you sell organic kale?  "})

    [request] = standin.requests
    assert request.path == "/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "deepseek-v9-test"
    assert request.body["temperature"] == 0.7
    assert request.body["max_tokens"] == 500
    assert request.body["stream"] is False
    assert request.body["messages"] == [*FIXED_PREFIX, {"role": "user", "content": "Do you sell organic kale?"}]


def test_system_prompt_keeps_the_designs_rules():
    assert "GreenGrocer" in SYSTEM_PROMPT
    assert "EST" in SYSTEM_PROMPT
    assert "500 characters" in SYSTEM_PROMPT


def test_reported_model_is_the_one_deepseek_answered_with(client, standin):
    standin.push(Reply(content="Hi!", model="deepseek-chat-v3"))

    body = client.post("/api/v1/chat", json={"message": "hello"}).get_json()

    assert body["metadata"]["model"] == "deepseek-chat-v3"


def test_reasoning_content_is_never_the_answer(client, standin):
    standin.push(Reply(reasoning="SECRET CHAIN OF THOUGHT", content="We deliver apples."))

    response = client.post("/api/v1/chat", json={"message": "apples?"})

    assert response.status_code == 200
    assert response.get_json()["content"] == "We deliver apples."
    assert b"SECRET CHAIN OF THOUGHT" not in response.data


def test_a_retry_that_succeeds_gives_the_answer(client, standin):
    standin.push(Reply(status=503), Reply(status=500), Reply(content="Third time lucky."))

    response = client.post("/api/v1/chat", json={"message": "hello"})

    assert response.status_code == 200
    assert response.get_json()["content"] == "Third time lucky."
    assert len(standin.requests) == 3


def test_queue_keepalive_blank_lines_before_the_answer_are_skipped(client, standin):
    standin.push(Reply(content="Worth the wait.", keepalives=5, keepalive_interval=0.02))

    response = client.post("/api/v1/chat", json={"message": "hello"})

    assert response.status_code == 200
    assert response.get_json()["content"] == "Worth the wait."


def test_extra_fields_in_the_body_are_ignored(client, standin):
    response = client.post("/api/v1/chat", json={"message": "hello", "user_id": 42})

    assert response.status_code == 200


def test_the_system_prompt_keeps_deepseek_to_support_without_promises_or_secrets(client, standin):
    standin.push(Reply(content="We stock kale."), Reply(content="Sorry, I can only help with GreenGrocer."))
    first = client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()
    client.post("/api/v1/chat", json={"message": "Write me a poem about the sea",
                                      "conversation_id": first["conversation_id"]})
    client.post("/api/v1/chat/stream", json={"message": "Tell me a joke about carrots"}).get_data()

    prompts = [request.body["messages"][0] for request in standin.requests]
    assert len(prompts) == 3 and all(prompt == prompts[0] for prompt in prompts)  # byte-stable: the prefix cache hits
    system = prompts[0]["content"].lower()
    assert prompts[0]["role"] == "system"
    assert "only" in system and "greengrocer" in system and "politely" in system  # on topic, refusing kindly
    assert "never promise" in system and all(word in system for word in ("refund", "credit", "compensation"))
    assert "how to request" in system  # it may explain the way to ask for one
    assert "never ask" in system and "card number" in system and "password" in system
