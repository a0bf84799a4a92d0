"""Grounding: what DeepSeek receives when a question goes to it, seen through the stand-in."""

from __future__ import annotations

import pytest

from app.services.chatbot_service import SYSTEM_PROMPT
from tests.deepseek_standin import Reply
from tests.support import shipped_answers

ANSWERS = shipped_answers()
FIXED_PREFIX = {"role": "system", "content": SYSTEM_PROMPT}


def ask(client, standin, question):
    standin.push(Reply(content="A grounded answer."))
    response = client.post("/api/v1/chat", json={"message": question})
    assert response.status_code == 200 and response.get_json()["source"] == "llm"
    return standin.requests[-1].body["messages"]


def test_the_fixed_system_prompt_is_the_unchanging_first_message(client, standin):
    questions = ["is there a delivery fee on sundays", "the strawberries were moldy", "Do you sell organic kale?"]

    received = [ask(client, standin, question) for question in questions]

    assert [messages[0] for messages in received] == [FIXED_PREFIX] * 3
    assert [messages[-1] for messages in received] == [{"role": "user", "content": q} for q in questions]


def test_the_related_faq_answers_follow_as_store_facts(client, standin):
    # Fees and hours fit this question equally well: no direct answer, DeepSeek gets both.
    messages = ask(client, standin, "is there a delivery fee on sundays")

    assert len(messages) == 3
    facts = messages[1]
    assert facts["role"] == "system"
    assert "Store facts" in facts["content"]
    assert ANSWERS["delivery-areas-fees"] in facts["content"]
    assert ANSWERS["delivery-hours"] in facts["content"]


def test_only_related_answers_are_sent(client, standin):
    messages = ask(client, standin, "the strawberries were moldy")

    assert ANSWERS["damaged-missing-items"] in messages[1]["content"]
    assert ANSWERS["payment-methods"] not in messages[1]["content"]


def test_an_unrelated_question_gets_no_store_facts(client, standin):
    assert ask(client, standin, "Do you sell organic kale?") == [
        FIXED_PREFIX,
        {"role": "user", "content": "Do you sell organic kale?"},
    ]


@pytest.mark.parametrize("follow_up", ["How much is it?", "is it free", "is it in stock"])
def test_a_follow_up_that_names_no_topic_goes_to_deepseek_with_the_conversation(client, standin, follow_up):
    # Only the first turn says what "it" is: the FAQ must not answer it with the delivery fee.
    standin.push(Reply(content="Yes, we sell organic kale."), Reply(content="Organic kale is $3.49 a bunch."))
    first = client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()

    response = client.post("/api/v1/chat", json={"message": follow_up, "conversation_id": first["conversation_id"]})

    body = response.get_json()
    assert response.status_code == 200
    assert (first["source"], body["source"]) == ("llm", "llm")
    assert body["content"] == "Organic kale is $3.49 a bunch."
    assert standin.requests[-1].body["messages"] == [
        FIXED_PREFIX,
        {"role": "user", "content": "Do you sell organic kale?"},
        {"role": "assistant", "content": "Yes, we sell organic kale."},
        {"role": "user", "content": follow_up},
    ]


def test_at_most_three_facts_are_sent(make_app, standin, tmp_path):
    entries = "".join(
        f"  - id: fee-{n}\n    phrasings: ['What is the delivery fee {n}?']\n    answer: Fee answer {n}.\n"
        for n in range(5)
    )
    path = tmp_path / "faq.yaml"
    path.write_text("faqs:\n" + entries, encoding="utf-8")
    client = make_app(FAQ_FILE=str(path)).test_client()

    messages = ask(client, standin, "what is the delivery fee")

    assert messages[1]["content"].count("Fee answer") == 3


def test_history_comes_before_the_store_facts_so_the_cached_prefix_grows(client, standin):
    standin.push(Reply(content="Sorry about the berries."))
    first = client.post("/api/v1/chat", json={"message": "the strawberries were moldy"}).get_json()
    standin.push(Reply(content="Noted."))

    client.post("/api/v1/chat", json={"message": "is there a delivery fee on sundays",
                                      "conversation_id": first["conversation_id"]})

    first_call, second_call = standin.requests[-2].body["messages"], standin.requests[-1].body["messages"]
    assert [m["role"] for m in second_call] == ["system", "user", "assistant", "system", "user"]
    assert second_call[:3] == [FIXED_PREFIX, first_call[-1], {"role": "assistant", "content": "Sorry about the berries."}]
    assert "Store facts" in second_call[3]["content"]
