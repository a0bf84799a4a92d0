"""Grounding: what DeepSeek receives when a question goes to it, seen through the stand-in.

A knowledge base that fits KB_PROMPT_MAX_CHARS is sent whole, right after the system
prompt, byte for byte the same on every call until it changes (DeepSeek's prefix cache);
a larger one falls back to the few entries related to the question, after the history.
"""

from __future__ import annotations

import json
import os

import pytest

from app.services.chatbot_service import SYSTEM_PROMPT
from app.services.prompt import KNOWLEDGE_BASE_INTRO, PromptBuilder, render_knowledge_base
from tests.deepseek_standin import Reply
from tests.prompts import FIXED_PREFIX, SHIPPED_KNOWLEDGE_BASE, SYSTEM_MESSAGE
from tests.sse import parse
from tests.staff import add_staff, bearer
from tests.support import shipped_answers, shipped_knowledge_base

SHIPPED_ENTRIES = shipped_knowledge_base().entries
ANSWERS = shipped_answers()
WHOLE_BLOCK = SHIPPED_KNOWLEDGE_BASE["content"]


def ask(client, standin, question, conversation_id=None, stream=False):
    """Ask a question DeepSeek answers; return the messages DeepSeek received."""
    standin.push(Reply(content="A grounded answer."))
    body = {"message": question, **({"conversation_id": conversation_id} if conversation_id else {})}
    response = client.post("/api/v1/chat/stream" if stream else "/api/v1/chat", json=body)
    assert response.status_code == 200
    if stream:
        assert parse(response.get_data(as_text=True))[-1].event == "done"  # read to the end: DeepSeek was called
    else:
        assert response.get_json()["source"] == "llm"
    return standin.requests[-1].body["messages"]


def conversation_id_of(client, standin, question):
    standin.push(Reply(content="A grounded answer."))
    return client.post("/api/v1/chat", json={"message": question}).get_json()["conversation_id"]


def serialized(messages) -> str:
    """The messages as one text, in the order and with the content sent (what the prefix cache compares)."""
    return json.dumps(messages, ensure_ascii=False)


def test_the_whole_knowledge_base_follows_the_system_prompt(client, standin):
    messages = ask(client, standin, "Do you sell organic kale?")

    assert messages == [SYSTEM_MESSAGE, {"role": "system", "content": WHOLE_BLOCK},
                        {"role": "user", "content": "Do you sell organic kale?"}]
    assert WHOLE_BLOCK.startswith(KNOWLEDGE_BASE_INTRO)
    for entry in SHIPPED_ENTRIES:  # every entry, in the file's order, as its first phrasing and answer
        assert f"Q: {entry.phrasings[0]}\nA: {entry.answer}" in WHOLE_BLOCK
    assert [WHOLE_BLOCK.index(answer) for answer in ANSWERS.values()] == sorted(
        WHOLE_BLOCK.index(answer) for answer in ANSWERS.values()
    )
    assert "Store facts" not in serialized(messages)  # the related entries are in the whole block already


def test_the_prompt_start_is_byte_identical_across_calls_turns_conversations_and_endpoints(client, standin):
    cid = conversation_id_of(client, standin, "Do you sell organic kale?")
    calls = [
        ask(client, standin, "the strawberries were moldy", cid),
        ask(client, standin, "is there a delivery fee on sundays", cid, stream=True),
        ask(client, standin, "Do you sell organic kale?"),  # another conversation
        ask(client, standin, "and spinach?", cid),
    ]
    fixed = serialized(FIXED_PREFIX)[:-1]  # without the closing bracket: more messages follow

    assert all(serialized(messages).startswith(fixed) for messages in calls)
    # Within one conversation a call starts with the whole previous call (less its closing bracket), byte for byte.
    first, second = serialized(calls[0]), serialized(calls[1])
    assert os.path.commonprefix([first, second]) == first[:-1]


def test_a_knowledge_base_change_changes_the_block_then_it_is_stable_again(app, client, standin):
    admin = add_staff(app, "Sam", "admin")
    before = ask(client, standin, "Do you sell organic kale?")[1]["content"]

    created = client.post("/api/v1/staff/faqs", headers=bearer(admin), json={
        "id": "organic-kale", "phrasings": ["Do you sell organic kale?"], "answer": "Yes, organic kale daily.",
    })
    after = [ask(client, standin, question)[1]["content"] for question in ("Got any leeks?", "Do you stock fresh basil?")]

    assert created.status_code == 201
    assert before == WHOLE_BLOCK
    assert after[0] == after[1] == WHOLE_BLOCK + "\n\nQ: Do you sell organic kale?\nA: Yes, organic kale daily."


def test_the_block_is_rendered_once_per_version_of_the_knowledge_base(app):
    builder = PromptBuilder(SYSTEM_PROMPT, 16000)
    knowledge = app.extensions["knowledge_base"]
    with app.app_context():
        snapshot = knowledge.current()
        first = builder.knowledge_base_block(snapshot)

        assert builder.knowledge_base_block(knowledge.current()) is first  # the same string object, not re-rendered
        assert first == render_knowledge_base(snapshot.knowledge_base.entries)


def test_a_knowledge_base_over_the_limit_falls_back_to_the_related_entries(make_app, standin):
    exact = make_app(KB_PROMPT_MAX_CHARS=len(WHOLE_BLOCK)).test_client()
    over = make_app(KB_PROMPT_MAX_CHARS=len(WHOLE_BLOCK) - 1).test_client()

    assert ask(exact, standin, "is there a delivery fee on sundays")[:2] == FIXED_PREFIX
    messages = ask(over, standin, "is there a delivery fee on sundays")

    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert messages[0] == SYSTEM_MESSAGE
    assert "Store facts" in messages[1]["content"] and WHOLE_BLOCK not in messages[1]["content"]


@pytest.fixture
def related_only(make_app):
    """A client whose knowledge base is too large for the prompt (KB_PROMPT_MAX_CHARS=0): related entries only."""
    return make_app(KB_PROMPT_MAX_CHARS=0).test_client()


def test_the_related_faq_answers_follow_as_store_facts(related_only, standin):
    # Fees and hours fit this question equally well: no direct answer, DeepSeek gets both.
    messages = ask(related_only, standin, "is there a delivery fee on sundays")

    assert len(messages) == 3
    facts = messages[1]
    assert facts["role"] == "system"
    assert "Store facts" in facts["content"]
    assert ANSWERS["delivery-areas-fees"] in facts["content"]
    assert ANSWERS["delivery-hours"] in facts["content"]


def test_only_related_answers_are_sent(related_only, standin):
    messages = ask(related_only, standin, "the strawberries were moldy")

    assert ANSWERS["damaged-missing-items"] in messages[1]["content"]
    assert ANSWERS["payment-methods"] not in messages[1]["content"]


def test_an_unrelated_question_gets_no_store_facts(related_only, standin):
    assert ask(related_only, standin, "Do you sell organic kale?") == [
        SYSTEM_MESSAGE,
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
        *FIXED_PREFIX,
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
    client = make_app(FAQ_FILE=str(path), KB_PROMPT_MAX_CHARS=0).test_client()

    messages = ask(client, standin, "what is the delivery fee")

    assert messages[1]["content"].count("Fee answer") == 3


def test_history_comes_before_the_store_facts_so_the_cached_prefix_grows(related_only, standin):
    standin.push(Reply(content="Sorry about the berries."))
    first = related_only.post("/api/v1/chat", json={"message": "the strawberries were moldy"}).get_json()
    standin.push(Reply(content="Noted."))

    related_only.post("/api/v1/chat", json={"message": "is there a delivery fee on sundays",
                                            "conversation_id": first["conversation_id"]})

    first_call, second_call = standin.requests[-2].body["messages"], standin.requests[-1].body["messages"]
    assert [m["role"] for m in second_call] == ["system", "user", "assistant", "system", "user"]
    assert second_call[:3] == [SYSTEM_MESSAGE, first_call[-1], {"role": "assistant", "content": "Sorry about the berries."}]
    assert "Store facts" in second_call[3]["content"]


def test_an_emptied_knowledge_base_sends_neither_block_nor_facts(app, client, standin):
    admin = add_staff(app, "Sam", "admin")
    for entry in SHIPPED_ENTRIES:
        assert client.delete(f"/api/v1/staff/faqs/{entry.id}", headers=bearer(admin)).status_code == 204

    messages = ask(client, standin, "what are your delivery hours")

    assert messages == [SYSTEM_MESSAGE, {"role": "user", "content": "what are your delivery hours"}]


def test_a_streamed_answer_gets_the_same_prompt(client, standin):
    standin.push(Reply(content="Streamed."))
    events = parse(client.post("/api/v1/chat/stream", json={"message": "Got any leeks?"}).get_data(as_text=True))

    assert events[-1].event == "done"
    assert standin.requests[-1].body["messages"] == [*FIXED_PREFIX, {"role": "user", "content": "Got any leeks?"}]
