"""`flask faq import [PATH] [--merge]` and `flask faq export PATH`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete

from app.extensions import db
from app.services.faq_file import EXPORT_HEADER, load_faq_file
from app.storage.models import FaqConcept, FaqPhrasing, FaqRecord, KnowledgeBaseVersion
from tests.staff import add_staff, bearer
from tests.support import read_log, shipped_knowledge_base

pytestmark = pytest.mark.both_databases

EDITS = [  # what the staff API adds before an export: text a file must carry without loss
    {"id": "cafe-hours", "phrasings": ["When does the café open?", "Café: opening hours?"], "tags": ["store", "café"],
     "answer": "Our café opens at 7 AM.\nOn Sundays: 9 AM — \"brunch\" until 2 PM: 'coffee' #1 & more."},
    {"id": "yes", "phrasings": ["yes", "no", "null?", "- dash", "{brace}"], "answer": "true"},
]


def faq(app, *args):
    return app.test_cli_runner().invoke(args=["faq", *args])


def empty_knowledge_base(app) -> None:
    """Delete every entry, concept and the version row: the knowledge base as a new database has it."""
    with app.app_context():
        for table in (FaqPhrasing, FaqRecord, FaqConcept, KnowledgeBaseVersion):
            db.session.execute(delete(table))
        db.session.commit()


@pytest.fixture
def edited(make_app):
    """An app whose knowledge base is the shipped one plus the EDITS, made through the staff API."""
    app = make_app()
    admin = bearer(add_staff(app, "Sam", "admin"))
    for body in EDITS:
        assert app.test_client().post("/api/v1/staff/faqs", headers=admin, json=body).status_code == 201
    return app


@pytest.mark.parametrize("name", ["backup.yaml", "backup.json"])
def test_export_import_into_an_empty_database_and_export_again_gives_the_same_file(
    edited, make_app, tmp_path, log_file, name
):
    first, second = tmp_path / name, tmp_path / f"again-{name}"
    assert faq(edited, "export", str(first)).exit_code == 0
    empty_knowledge_base(edited)
    restored = make_app()  # a new process on the emptied database

    imported = faq(restored, "import", str(first))
    exported = faq(restored, "export", str(second))

    assert imported.exit_code == 0, imported.output
    assert exported.exit_code == 0, exported.output
    assert second.read_bytes() == first.read_bytes()
    knowledge_base = load_faq_file(first)
    assert [entry.id for entry in knowledge_base.entries][-2:] == ["cafe-hours", "yes"]
    assert knowledge_base.entries[-2].answer == EDITS[0]["answer"]
    assert knowledge_base.entries[-1].phrasings == tuple(EDITS[1]["phrasings"])
    assert knowledge_base.concepts == shipped_knowledge_base().concepts
    seeded = [line for line in read_log(log_file) if line["event"] == "knowledge_base_seeded"]
    assert len(seeded) == 1  # the first app's; the import filled the emptied database, nothing seeded it first


def test_the_export_of_the_shipped_knowledge_base_holds_the_shipped_file_without_its_comments(app, tmp_path):
    path = tmp_path / "faq.yaml"

    result = faq(app, "export", str(path))

    assert result.output == f"Exported 12 entries and 39 concepts to {path}.\n"
    assert load_faq_file(path) == shipped_knowledge_base()
    assert path.read_text(encoding="utf-8").startswith(EXPORT_HEADER)
    assert "# Each entry:" not in path.read_text(encoding="utf-8")  # comments do not survive the database


def test_export_to_stdout_prints_yaml(app, tmp_path):
    path = tmp_path / "faq.yaml"
    faq(app, "export", str(path))

    result = faq(app, "export", "-")

    assert result.exit_code == 0
    assert result.stdout == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "message"),
    [("backup.txt", "must end in .yaml"), ("missing/backup.yaml", "cannot write"),
     ("a-folder.yaml", "cannot write the FAQ file (IsADirectoryError")],
)
def test_export_to_a_bad_path_exits_1_and_leaves_nothing_behind(app, tmp_path, name, message):
    folder = tmp_path / "exports"
    (folder / "a-folder.yaml").mkdir(parents=True)

    result = faq(app, "export", str(folder / name))

    assert result.exit_code == 1
    assert message in result.output and result.output.startswith("Error: ")
    assert [path.name for path in folder.iterdir()] == ["a-folder.yaml"]  # no temporary file left either


def write(tmp_path, text, name="faq.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


KALE_FILE = """faqs:
  - id: organic-kale
    phrasings: ["Do you sell organic kale?"]
    answer: Yes, every day.
  - id: payment-methods
    phrasings: ["How can I pay?"]
    answer: Card only.
concepts:
  - concept: kale
    phrases: [kale, cavolo nero]
"""


def entries(app):
    with app.app_context():
        return app.extensions["knowledge_base"].export()


def test_import_replaces_the_knowledge_base_and_customers_get_it_at_once(app, tmp_path):
    client = app.test_client()
    before = client.post("/api/v1/chat", json={"message": "what are your delivery hours"}).get_json()

    result = faq(app, "import", str(write(tmp_path, KALE_FILE)))

    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"Imported {tmp_path / 'faq.yaml'}: 1 entries added, 1 replaced, 11 removed; 1 concepts."
    )
    knowledge_base = entries(app)
    assert [entry.id for entry in knowledge_base.entries] == ["organic-kale", "payment-methods"]
    assert [concept.name for concept in knowledge_base.concepts] == ["kale"]
    assert before["source"] == "faq"
    assert client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()["content"] == (
        "Yes, every day."
    )
    assert client.post("/api/v1/chat", json={"message": "How can I pay?"}).get_json()["content"] == "Card only."


def test_import_merge_adds_and_replaces_and_keeps_the_rest(app, tmp_path):
    result = faq(app, "import", "--merge", str(write(tmp_path, KALE_FILE)))

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Merged {tmp_path / 'faq.yaml'}: 1 entries added, 1 replaced; 1 concepts.")
    knowledge_base = entries(app)
    shipped = shipped_knowledge_base()
    assert [entry.id for entry in knowledge_base.entries] == [entry.id for entry in shipped.entries] + ["organic-kale"]
    assert {entry.id: entry.answer for entry in knowledge_base.entries}["payment-methods"] == "Card only."
    assert [concept.name for concept in knowledge_base.concepts] == [c.name for c in shipped.concepts] + ["kale"]


def test_import_merge_replaces_a_concept_in_its_place(app, tmp_path):
    shipped = shipped_knowledge_base()
    first = shipped.concepts[0]
    text = KALE_FILE.replace("concept: kale\n    phrases: [kale, cavolo nero]",
                             f"concept: {first.name}\n    phrases: [{', '.join(first.phrases)}, zzz]")

    assert faq(app, "import", "--merge", str(write(tmp_path, text))).exit_code == 0

    concepts = entries(app).concepts
    assert [concept.name for concept in concepts] == [concept.name for concept in shipped.concepts]
    assert concepts[0].phrases == (*first.phrases, "zzz")


def test_an_entry_kept_by_a_replacing_import_keeps_its_hit_history(app, tmp_path):
    client = app.test_client()
    client.post("/api/v1/chat", json={"message": "How can I pay?"})
    admin = bearer(add_staff(app, "Sam", "admin"))

    assert faq(app, "import", str(write(tmp_path, KALE_FILE))).exit_code == 0

    entry = client.get("/api/v1/staff/faqs/payment-methods", headers=admin).get_json()
    assert (entry["answer"], entry["hit_count"]) == ("Card only.", 1)


def test_an_invalid_file_is_refused_naming_the_entry_and_nothing_changes(app, tmp_path):
    path = write(tmp_path, KALE_FILE.replace("answer: Card only.", "answer: ''"))

    result = faq(app, "import", str(path))

    assert result.exit_code == 1
    assert "entry 2 (id 'payment-methods'): answer" in result.output
    assert entries(app) == shipped_knowledge_base()


def test_import_without_a_path_loads_faq_file(make_app, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"faqs": [{"id": "only", "phrasings": ["Only one?"], "answer": "Yes."}]}))
    app = make_app(FAQ_FILE=str(seed))
    admin = bearer(add_staff(app, "Sam", "admin"))
    app.test_client().post("/api/v1/staff/faqs", headers=admin, json={"phrasings": ["Another?"], "answer": "No."})
    assert [entry.id for entry in entries(app).entries] == ["only", "another"]

    result = faq(app, "import")

    assert result.exit_code == 0, result.output
    assert [entry.id for entry in entries(app).entries] == ["only"]


def test_check_validates_a_file_without_touching_the_database(app, tmp_path):
    path = write(tmp_path, KALE_FILE)

    result = faq(app, "check", str(path))

    assert result.output.startswith("OK: 2 entries, 2 phrasings, 1 concepts")
    assert entries(app) == shipped_knowledge_base()
