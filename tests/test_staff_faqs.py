"""The staff FAQ routes, /api/v1/staff/faqs, on SQLite and PostgreSQL: list, read, create, promote, replace, delete.

Every change is checked the way a customer sees it: through POST /api/v1/chat.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.storage.models import Message
from tests.deepseek_standin import Reply
from tests.staff import add_staff, bearer
from tests.support import chat, error_of, read_log, shipped_answers, shipped_knowledge_base

pytestmark = pytest.mark.both_databases

ANSWERS = shipped_answers()
SHIPPED_ENTRIES = shipped_knowledge_base().entries

KALE = {"phrasings": ["Do you sell organic kale?"], "answer": "Yes: organic kale, every day."}


@pytest.fixture
def staff(make_app):
    """An app with a roomy customer limit, its client, and an admin's and an agent's headers."""
    app = make_app(RATE_LIMITS="1000/minute")
    return app, app.test_client(), bearer(add_staff(app, "Sam", "admin")), bearer(add_staff(app, "Dana"))


def faqs(client, headers, query=""):
    response = client.get(f"/api/v1/staff/faqs{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored_messages(client, conversation_id):
    return client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"]


def promote(client, standin, headers, question, **fields):
    """Have a customer ask a question DeepSeek answers, then promote it with the fields; return the chat answer,
    the question's message_id and the staff response."""
    standin.push(Reply(content="I am not sure, sorry."))
    asked = chat(client, question)
    [message_id] = [m["message_id"] for m in stored_messages(client, asked["conversation_id"]) if m["role"] == "user"]
    response = client.post("/api/v1/staff/faqs", headers=headers, json={"from_message_id": message_id, **fields})
    return asked, message_id, response


# Reading


def test_the_list_is_the_seeded_knowledge_base_in_its_order_with_hit_counts(staff):
    _, client, _, agent = staff

    body = faqs(client, agent)

    assert (body["total"], body["page"], body["per_page"]) == (12, 1, 50)
    assert [entry["id"] for entry in body["faqs"]] == [entry.id for entry in SHIPPED_ENTRIES]
    first = body["faqs"][0]
    assert first["phrasings"] == list(SHIPPED_ENTRIES[0].phrasings)
    assert first["answer"] == SHIPPED_ENTRIES[0].answer and first["tags"] == list(SHIPPED_ENTRIES[0].tags)
    assert (first["hit_count"], first["last_hit_at"], first["from_message_id"], first["from_conversation_id"]) == (
        0, None, None, None,
    )
    assert datetime.fromisoformat(first["created_at"]).utcoffset().total_seconds() == 0


def test_the_list_pages(staff):
    _, client, _, agent = staff

    pages = [faqs(client, agent, f"?per_page=5&page={page}") for page in (1, 2, 3, 4)]

    assert [len(page["faqs"]) for page in pages] == [5, 5, 2, 0]
    assert {page["total"] for page in pages} == {12}
    assert [e["id"] for page in pages for e in page["faqs"]] == [entry.id for entry in SHIPPED_ENTRIES]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("REFUND", {"returns-refunds"}),  # an id, any case
        ("tracking link", {"order-status"}),  # a phrasing
        ("Apple Pay", {"payment-methods"}),  # an answer
        ("50%_", set()),  # LIKE's wildcards are plain characters
        ("zucchini", set()),
    ],
)
def test_the_list_searches_ids_phrasings_and_answers(staff, search, expected):
    _, client, _, agent = staff

    body = client.get("/api/v1/staff/faqs", query_string={"q": search}, headers=agent).get_json()

    assert {entry["id"] for entry in body["faqs"]} >= expected
    assert body["total"] == len(body["faqs"])
    assert all(search.lower() in str(entry).lower() for entry in body["faqs"])
    if not expected:
        assert body["faqs"] == []


@pytest.mark.parametrize(
    "query", ["?page=0", "?page=abc", "?page=-1", "?per_page=0", "?per_page=201", "?per_page=1.5", "?q=" + "x" * 201]
)
def test_a_bad_list_query_is_a_400_naming_the_parameter(staff, query):
    _, client, _, agent = staff

    response = client.get(f"/api/v1/staff/faqs{query}", headers=agent)

    assert error_of(response) == (400, "INVALID_REQUEST")
    assert query[1:].split("=")[0] in response.get_json()["error"]["message"]


def test_one_entry_is_read_by_its_id(staff):
    _, client, _, agent = staff

    response = client.get("/api/v1/staff/faqs/payment-methods", headers=agent)

    assert response.status_code == 200
    assert response.get_json()["answer"] == ANSWERS["payment-methods"]


@pytest.mark.parametrize("faq_id", ["no-such-entry", "Payment-Methods", "a" * 65, "bad%20id", "%00"])
def test_an_unknown_or_impossible_id_is_a_404(staff, faq_id):
    _, client, admin, _ = staff

    for method in ("get", "put", "delete"):
        response = getattr(client, method)(f"/api/v1/staff/faqs/{faq_id}", headers=admin, json={**KALE})
        assert error_of(response) == (404, "FAQ_NOT_FOUND"), method


# Roles


def test_agents_read_but_only_admins_change(staff):
    _, client, admin, agent = staff

    refused = [
        client.post("/api/v1/staff/faqs", headers=agent, json=KALE),
        client.put("/api/v1/staff/faqs/payment-methods", headers=agent, json=KALE),
        client.delete("/api/v1/staff/faqs/payment-methods", headers=agent),
    ]

    assert [error_of(response) for response in refused] == [(403, "FORBIDDEN")] * 3
    assert faqs(client, admin)["total"] == 12
    assert client.get("/api/v1/staff/faqs", headers=bearer("ggs_not-a-token")).status_code == 401


# Creating


def test_a_new_entry_answers_the_next_customer_at_once(staff, standin):
    _, client, admin, _ = staff
    standin.push(Reply(content="Let me check the kale."))
    before = chat(client, "Do you stock organic kale?")

    response = client.post("/api/v1/staff/faqs", headers=admin, json={"id": "organic-kale", **KALE, "tags": ["produce"]})

    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/v1/staff/faqs/organic-kale")
    created = response.get_json()
    assert (created["id"], created["tags"], created["hit_count"]) == ("organic-kale", ["produce"], 0)
    after = chat(client, "Do you stock organic kale?")  # a paraphrase the matcher accepts
    assert (before["source"], after["source"], after["content"]) == ("llm", "faq", KALE["answer"])
    assert faqs(client, admin)["faqs"][-1]["id"] == "organic-kale"  # appended after the others


def test_without_an_id_one_is_made_from_the_first_phrasing_and_kept_unique(staff):
    _, client, admin, _ = staff

    ids = [client.post("/api/v1/staff/faqs", headers=admin, json=body).get_json()["id"] for body in (
        KALE,
        {**KALE, "answer": "Another answer."},
        {"phrasings": ["Où est ma commande, s'il vous plaît ? " * 4], "answer": "Dans votre compte."},
        {"phrasings": ["¿¿ 你好 ??"], "answer": "Hello."},  # nothing an id can be made of
    )]
    wordless = client.post("/api/v1/staff/faqs", headers=admin, json={"phrasings": ["???!"], "answer": "x"})

    assert ids[:2] == ["do-you-sell-organic-kale", "do-you-sell-organic-kale-2"]
    assert ids[2].startswith("ou-est-ma-commande-s-il-vous-plait") and len(ids[2]) <= 48
    assert ids[3] == "faq"
    assert wordless.get_json()["field"] == "phrasings"  # refused for its phrasing, not for a made-up id


def test_a_taken_id_is_a_409_and_nothing_changes(staff):
    _, client, admin, _ = staff

    response = client.post("/api/v1/staff/faqs", headers=admin, json={"id": "payment-methods", **KALE})

    assert error_of(response) == (409, "FAQ_ID_TAKEN")
    assert client.get("/api/v1/staff/faqs/payment-methods", headers=admin).get_json()["answer"] == ANSWERS[
        "payment-methods"
    ]
    assert faqs(client, admin)["total"] == 12


INVALID_ENTRIES = [
    ({"phrasings": ["Kale?"]}, "answer", "Field required"),
    ({**KALE, "answer": "   "}, "answer", "at least 1 character"),
    ({**KALE, "answer": 42}, "answer", "valid string"),
    ({**KALE, "phrasings": []}, "phrasings", "at least 1 item"),
    ({**KALE, "phrasings": "Kale?"}, "phrasings", "valid list"),
    ({**KALE, "phrasings": ["Kale?", "?!"]}, "phrasings", "phrasing 2 ('?!') has no words"),
    ({**KALE, "phrasings": ["Kale?", 7]}, "phrasings", "item 2"),
    ({**KALE, "id": "Organic Kale"}, "id", "should match pattern"),
    ({**KALE, "id": "k" * 65}, "id", "should match pattern"),
    ({**KALE, "tags": "produce"}, "tags", "valid list"),
    ({**KALE, "colour": "green"}, "colour", "Extra inputs are not permitted"),
    ({**KALE, "from_message_id": "12"}, "from_message_id", "message_id of a customer's question"),
    ({**KALE, "from_message_id": 2**31}, "from_message_id", "message_id of a customer's question"),
    ({**KALE, "from_message_id": True}, "from_message_id", "message_id of a customer's question"),
    ({**KALE, "from_message_id": None}, "from_message_id", "message_id of a customer's question"),
]


@pytest.mark.parametrize(("body", "field", "problem"), INVALID_ENTRIES)
def test_an_invalid_new_entry_is_a_400_naming_the_field_and_nothing_changes(staff, body, field, problem):
    _, client, admin, _ = staff

    response = client.post("/api/v1/staff/faqs", headers=admin, json=body)

    assert error_of(response) == (400, "INVALID_REQUEST")
    error = response.get_json()
    assert error["field"] == field
    assert error["error"]["message"].startswith(f'"{field}": ') and problem in error["error"]["message"]
    assert faqs(client, admin)["total"] == 12


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [(b"[1]", "application/json", "INVALID_REQUEST"), (b"{", "application/json", "INVALID_REQUEST"),
     (b"answer=x", "application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE")],
)
def test_a_body_that_is_no_json_object_is_refused(staff, raw, content_type, code):
    _, client, admin, _ = staff

    response = client.post("/api/v1/staff/faqs", headers={**admin, "Content-Type": content_type}, data=raw)

    assert response.get_json()["error"]["code"] == code
    assert faqs(client, admin)["total"] == 12


def test_control_characters_are_removed_from_an_entry(staff):
    _, client, admin, _ = staff

    response = client.post(
        "/api/v1/staff/faqs", headers=admin, json={"phrasings": ["Kale\x00 today?"], "answer": "Yes\x1b.\r\nDaily."}
    )

    assert (response.get_json()["phrasings"], response.get_json()["answer"]) == (["Kale today?"], "Yes.\nDaily.")


# Promoting a customer's question


def test_a_promoted_question_answers_the_next_customer_who_asks_it(staff, standin):
    _, client, admin, _ = staff

    asked, message_id, response = promote(
        client, standin, admin, "Can I bring my dog into the store?", answer="Only service animals, please.",
        phrasings=["Are pets allowed in the store?", "Can I bring my dog into the store?"],
    )

    assert response.status_code == 201
    entry = response.get_json()
    assert entry["phrasings"] == ["Can I bring my dog into the store?", "Are pets allowed in the store?"]
    assert (entry["from_message_id"], entry["from_conversation_id"]) == (message_id, asked["conversation_id"])
    assert entry["id"] == "can-i-bring-my-dog-into-the-store"
    assert client.get(f"/api/v1/staff/faqs/{entry['id']}", headers=admin).get_json()["from_message_id"] == message_id
    for question in ("Can I bring my dog into the store?", "are dogs allowed in the store"):
        answer = chat(client, question)
        assert (answer["source"], answer["content"]) == ("faq", "Only service animals, please."), question
    assert asked["source"] == "llm"


def test_a_promoted_question_is_the_masked_text_as_stored(staff, standin):
    _, client, admin, _ = staff

    _, _, response = promote(client, standin, admin, "Why was my card 4111 1111 1111 1111 declined?",
                             answer="Check the card's expiry date and billing address.")

    entry = response.get_json()
    assert entry["phrasings"] == ["Why was my card [card ending 1111] declined?"]
    assert "4111 1111" not in str(entry)


def test_only_a_customer_question_can_be_promoted(staff, standin):
    _, client, admin, _ = staff
    standin.push(Reply(content="We stock kale."))
    asked = chat(client, "Do you have kale?")
    answer_id = next(m["message_id"] for m in stored_messages(client, asked["conversation_id"]) if m["role"] == "assistant")

    answer = client.post("/api/v1/staff/faqs", headers=admin, json={"from_message_id": answer_id, "answer": "Yes."})
    unknown = client.post("/api/v1/staff/faqs", headers=admin, json={"from_message_id": 999999, "answer": "Yes."})

    assert error_of(answer) == (400, "INVALID_REQUEST") and answer.get_json()["field"] == "from_message_id"
    assert error_of(unknown) == (404, "MESSAGE_NOT_FOUND")
    assert faqs(client, admin)["total"] == 12


def test_forgetting_the_conversation_clears_the_link_and_keeps_the_entry(staff, standin):
    _, client, admin, _ = staff
    asked, _, response = promote(client, standin, admin, "Do you sell birthday cakes?",
                                 answer="Not yet; our bakery range is bread and pastries.")
    created = response.get_json()

    assert client.delete(f"/api/v1/conversations/{asked['conversation_id']}").status_code == 204

    entry = client.get(f"/api/v1/staff/faqs/{created['id']}", headers=admin).get_json()
    assert (entry["from_message_id"], entry["from_conversation_id"]) == (None, None)
    assert entry["phrasings"] == ["Do you sell birthday cakes?"]


# Replacing and deleting


def test_a_replaced_entry_answers_with_its_new_text_and_keeps_its_history(staff):
    _, client, admin, _ = staff
    chat(client, "How can I pay?")

    response = client.put("/api/v1/staff/faqs/payment-methods", headers=admin, json={
        "id": "payment-methods", "phrasings": ["How can I pay?", "Which cards do you take?"], "answer": "Card or cash.",
    })

    assert response.status_code == 200
    entry = response.get_json()
    assert (entry["answer"], entry["tags"], entry["hit_count"]) == ("Card or cash.", [], 1)
    assert entry["updated_at"] > entry["created_at"]
    assert chat(client, "Which cards do you take?")["content"] == "Card or cash."
    assert [e["id"] for e in faqs(client, admin)["faqs"]] == [e.id for e in SHIPPED_ENTRIES]  # its place kept


@pytest.mark.parametrize(("body", "field"), [
    ({**KALE, "id": "organic-kale"}, "id"),
    ({"phrasings": ["How can I pay?"]}, "answer"),
    ({**KALE, "from_message_id": 1}, "from_message_id"),
])
def test_an_invalid_replacement_is_a_400_naming_the_field_and_nothing_changes(staff, body, field):
    _, client, admin, _ = staff

    response = client.put("/api/v1/staff/faqs/payment-methods", headers=admin, json=body)

    assert error_of(response) == (400, "INVALID_REQUEST") and response.get_json()["field"] == field
    assert client.get("/api/v1/staff/faqs/payment-methods", headers=admin).get_json()["answer"] == ANSWERS[
        "payment-methods"
    ]
    assert chat(client, "How can I pay?")["content"] == ANSWERS["payment-methods"]


def test_a_deleted_entry_no_longer_answers(staff, standin):
    _, client, admin, _ = staff
    assert chat(client, "How can I pay?")["source"] == "faq"

    response = client.delete("/api/v1/staff/faqs/payment-methods", headers=admin)

    assert response.status_code == 204 and response.data == b""
    standin.push(Reply(content="By card, usually."))
    assert chat(client, "How can I pay?")["source"] == "llm"
    assert error_of(client.get("/api/v1/staff/faqs/payment-methods", headers=admin)) == (404, "FAQ_NOT_FOUND")
    assert error_of(client.delete("/api/v1/staff/faqs/payment-methods", headers=admin)) == (404, "FAQ_NOT_FOUND")
    assert faqs(client, admin)["total"] == 11


def test_changes_are_logged_with_the_staff_member(staff, log_file):
    _, client, admin, _ = staff

    client.post("/api/v1/staff/faqs", headers=admin, json={"id": "kale", **KALE})
    client.put("/api/v1/staff/faqs/kale", headers=admin, json={**KALE, "answer": "No."})
    client.delete("/api/v1/staff/faqs/kale", headers=admin)

    events = [(line["event"], line.get("faq_id"), line.get("staff_name")) for line in read_log(log_file)
              if line["event"] in ("faq_created", "faq_updated", "faq_deleted")]
    assert events == [("faq_created", "kale", "Sam"), ("faq_updated", "kale", "Sam"), ("faq_deleted", "kale", "Sam")]


# Hit history


def test_every_faq_answer_records_its_entry_and_score_and_entries_show_their_hits(staff, make_app):
    app, client, admin, _ = staff
    first = chat(client, "How can I pay?")
    chat(client, "what are your delivery hours", first["conversation_id"])
    last = chat(client, "Which payment methods do you accept?")
    fallback = make_app(DEEPSEEK_API_KEY="", RATE_LIMITS="1000/minute").test_client()
    assert chat(fallback, "the strawberries were moldy")["source"] == "faq_fallback"

    with app.app_context():
        answers = db.session.execute(
            select(Message.source, Message.faq_id, Message.faq_score).where(Message.role == "assistant").order_by(Message.id)
        ).all()
        last_hit = db.session.scalar(select(Message.created_at).where(Message.conversation_id == last["conversation_id"],
                                                                      Message.role == "assistant"))

    assert [(source, faq_id) for source, faq_id, _ in answers] == [
        ("faq", "payment-methods"), ("faq", "delivery-hours"), ("faq", "payment-methods"),
        ("faq_fallback", "damaged-missing-items"),
    ]
    assert all(0.4 <= score <= 1.0 for _, _, score in answers)
    listed = {entry["id"]: entry for entry in faqs(client, admin)["faqs"]}
    assert [listed[faq_id]["hit_count"] for faq_id in ("payment-methods", "delivery-hours", "damaged-missing-items",
                                                        "order-status")] == [2, 1, 1, 0]
    assert listed["payment-methods"]["last_hit_at"] == last_hit.isoformat(timespec="milliseconds")
    assert listed["order-status"]["last_hit_at"] is None


def test_a_model_answer_names_no_entry(staff, standin):
    app, client, _, _ = staff
    standin.push(Reply(content="Yes, kale."))
    chat(client, "Do you sell organic kale?")

    with app.app_context():
        assert db.session.execute(select(Message.faq_id, Message.faq_score).where(Message.role == "assistant")).all() == [
            (None, None)
        ]
