"""The FAQ file: the shipped one, validation errors that name the entry or concept, and refusing to start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import create_app
from app.services.faq_file import FaqFileError, load_faq_file, resolve
from app.services.faq_text import Concept

SHIPPED = Path(__file__).parent.parent / "instance" / "faq.yaml"
REQUIRED_TOPICS = {
    "delivery-hours", "order-status", "delivery-areas-fees", "returns-refunds", "damaged-missing-items",
    "payment-methods", "cancel-change-order", "substitutions", "account-password", "contact-human",
}
DESIGN_ANSWERS = {
    "delivery-hours": (
        "Our delivery hours are 8 AM to 8 PM EST, Monday through Saturday, and 10 AM to 6 PM EST on Sunday. "
        "Orders placed before 2 PM EST are delivered the same day."
    ),
    "order-status": (
        "You can check your order status under 'My Orders' in your GreenGrocer account or with the tracking "
        "link in your confirmation e-mail. Statuses update in real time from packing to delivery."
    ),
}
VALID_ENTRY = "faqs:\n  - id: ok\n    phrasings: ['How do I pay?']\n    answer: By card.\n"


def write(tmp_path: Path, text: str, name: str = "faq.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_faq_covers_the_required_topics():
    entries = load_faq_file(SHIPPED).entries

    assert REQUIRED_TOPICS <= {entry.id for entry in entries}
    assert all(len(entry.phrasings) >= 3 for entry in entries)
    assert all(len(entry.answer) <= 500 for entry in entries)  # the answer-length rule of the system prompt


def test_the_designs_two_answers_keep_their_text():
    answers = {entry.id: entry.answer for entry in load_faq_file(SHIPPED).entries}

    for faq_id, text in DESIGN_ANSWERS.items():
        assert answers[faq_id] == text


def test_a_json_file_with_the_same_shape_loads(tmp_path):
    data = {
        "faqs": [{"id": "pay", "phrasings": ["How do I pay?", "payment"], "answer": "By card.", "tags": ["x"]}],
        "concepts": [{"concept": "pay", "phrases": ["pay", "checkout"], "aspect": False}],
    }
    knowledge_base = load_faq_file(write(tmp_path, json.dumps(data), "faq.json"))

    [entry] = knowledge_base.entries
    assert (entry.id, entry.phrasings, entry.answer, entry.tags) == ("pay", ("How do I pay?", "payment"), "By card.",
                                                                     ("x",))
    assert knowledge_base.concepts == (Concept("pay", ("pay", "checkout")),)


def test_the_shipped_file_holds_the_concepts_and_their_aspects():
    concepts = load_faq_file(SHIPPED).concepts

    assert {"deliver", "order", "refund", "when", "track"} <= {concept.name for concept in concepts}
    assert {concept.name for concept in concepts if concept.aspect} == {"cost", "free", "stock", "where"}
    assert all(concept.phrases for concept in concepts)


def test_concepts_load_in_order_and_are_optional(tmp_path):
    text = VALID_ENTRY + (
        "concepts:\n  - concept: pay\n    phrases: [pay, Checkout, apple pay]\n"
        "  - concept: cost\n    aspect: true\n    phrases: [how much]\n"
    )

    assert load_faq_file(write(tmp_path, text)).concepts == (
        Concept("pay", ("pay", "Checkout", "apple pay")), Concept("cost", ("how much",), aspect=True),
    )
    assert load_faq_file(write(tmp_path, VALID_ENTRY, "bare.yaml")).concepts == ()


CONCEPT = "concepts:\n  - concept: pay\n    phrases: [pay, checkout]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CONCEPT + CONCEPT.removeprefix("concepts:\n"),
         "concept 2 ('pay'): concept: duplicate of concept 1; concepts must be unique"),
        (CONCEPT.replace("pay\n", "Pay Now\n"), "concept 1 ('Pay Now'): concept: String should match pattern"),
        (CONCEPT.replace("concept: pay\n    ", ""), "concept 1: concept: Field required"),
        (CONCEPT.replace("[pay, checkout]", "[]"), "concept 1 ('pay'): phrases: List should have at least 1 item"),
        (CONCEPT.replace("checkout", "'--'"), "concept 1 ('pay'): phrases: phrase 2 ('--') has no words"),
        (CONCEPT.replace("checkout", "no"), "concept 1 ('pay'): phrases item 2: Input should be a valid string"),
        (CONCEPT + "    aspect: sometimes\n", "concept 1 ('pay'): aspect: Input should be a valid boolean"),
        (CONCEPT + "    synonyms: [purchase]\n", "concept 1 ('pay'): synonyms: Extra inputs are not permitted"),
        ("concepts:\n  - pay\n", "concept 1: must be a mapping with concept, phrases and optional aspect"),
        ("concepts: pay\n", "concepts: Input should be a valid list"),
    ],
)
def test_invalid_concepts_are_refused_naming_the_concept_and_field(tmp_path, text, expected):
    path = write(tmp_path, VALID_ENTRY + text)

    with pytest.raises(FaqFileError) as refused:
        load_faq_file(path)

    assert str(refused.value).startswith(f"{path}: ")
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VALID_ENTRY + "  - id: refunds\n    phrasings: []\n    answer: Yes.\n",
         "entry 2 (id 'refunds'): phrasings: List should have at least 1 item"),
        (VALID_ENTRY + "  - id: refunds\n    answer: Yes.\n", "entry 2 (id 'refunds'): phrasings: Field required"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?']\n    answer: '   '\n",
         "entry 1 (id 'refunds'): answer: String should have at least 1 character"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?']\n", "entry 1 (id 'refunds'): answer: Field required"),
        (VALID_ENTRY + VALID_ENTRY.removeprefix("faqs:\n"), "entry 2 (id 'ok'): id: duplicate of entry 1"),
        ("faqs:\n  - phrasings: ['Refund?']\n    answer: Yes.\n", "entry 1: id: Field required"),
        ("faqs:\n  - id: Refunds Please\n    phrasings: ['Refund?']\n    answer: Yes.\n",
         "entry 1 (id 'Refunds Please'): id: String should match pattern"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?', '?!']\n    answer: Yes.\n",
         "entry 1 (id 'refunds'): phrasings: phrasing 2 ('?!') has no words"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?', 42]\n    answer: Yes.\n",
         "entry 1 (id 'refunds'): phrasings item 2: Input should be a valid string"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?']\n    answer: Yes.\n    tags: refunds\n",
         "entry 1 (id 'refunds'): tags: Input should be a valid list"),
        ("faqs:\n  - id: refunds\n    phrasings: ['Refund?']\n    answer: Yes.\n    anwser: typo\n",
         "entry 1 (id 'refunds'): anwser: Extra inputs are not permitted"),
        ("faqs:\n  - just a question\n", "entry 1: must be a mapping with id, phrasings, answer"),
        ("faqs: []\n", "faqs: List should have at least 1 item"),
        ("- id: refunds\n", "the file must be a mapping with a 'faqs' list of entries"),
        ("", "the file must be a mapping with a 'faqs' list of entries"),
        ("questions: []\n", "faqs: Field required"),
        ("faqs: [\n", "not valid YAML (line 2)"),
    ],
)
def test_invalid_files_are_refused_naming_the_entry_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)

    with pytest.raises(FaqFileError) as refused:
        load_faq_file(path)

    assert str(refused.value).startswith(f"{path}: ")
    assert expected in str(refused.value)


def test_invalid_json_says_where(tmp_path):
    with pytest.raises(FaqFileError, match=r"not valid JSON \(line 2\)"):
        load_faq_file(write(tmp_path, '{"faqs":\n [,]}', "faq.json"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.yaml", "no such FAQ file"), ("faq.txt", "must end in .yaml, .yml or .json")],
)
def test_missing_files_and_other_formats_are_refused(tmp_path, name, expected):
    (tmp_path / "faq.txt").write_text("faqs: []")

    with pytest.raises(FaqFileError, match=expected):
        load_faq_file(tmp_path / name)


def test_an_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "faq.yaml"
    path.write_bytes(b"faqs: \xff\xfe")

    with pytest.raises(FaqFileError, match="cannot read the FAQ file"):
        load_faq_file(path)


def test_relative_paths_are_taken_from_the_project_folder(tmp_path):
    assert resolve("instance/faq.yaml", tmp_path) == tmp_path / "instance" / "faq.yaml"
    assert resolve(tmp_path / "x.yaml", Path("/elsewhere")) == tmp_path / "x.yaml"


def test_the_app_refuses_to_start_with_an_invalid_faq_file(tmp_path):
    path = write(tmp_path, VALID_ENTRY.replace("answer: By card.", "answer: ''"))

    with pytest.raises(FaqFileError, match=r"entry 1 \(id 'ok'\): answer"):
        create_app({"FLASK_ENV": "testing", "FAQ_FILE": str(path), "LOG_FILE": ""})


def test_the_app_refuses_to_start_with_an_invalid_concept(tmp_path):
    path = write(tmp_path, VALID_ENTRY + CONCEPT.replace("[pay, checkout]", "[]"))

    with pytest.raises(FaqFileError, match=r"concept 1 \('pay'\): phrases"):
        create_app({"FLASK_ENV": "testing", "FAQ_FILE": str(path), "LOG_FILE": ""})


def test_the_app_refuses_to_start_without_its_faq_file(tmp_path):
    with pytest.raises(FaqFileError, match="no such FAQ file"):
        create_app({"FLASK_ENV": "testing", "FAQ_FILE": str(tmp_path / "gone.yaml"), "LOG_FILE": ""})


def test_faq_file_defaults_to_the_shipped_file_and_can_be_replaced(make_app, tmp_path):
    assert make_app().config["FAQ_FILE"] == "instance/faq.yaml"
    custom = write(tmp_path, "faqs:\n - id: kale\n   phrasings: ['Do you sell organic kale?']\n   answer: Always.\n")

    client = make_app(FAQ_FILE=str(custom)).test_client()

    body = client.post("/api/v1/chat", json={"message": "organic kale for sale?"}).get_json()
    assert (body["source"], body["content"]) == ("faq", "Always.")
