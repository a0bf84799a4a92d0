"""The live knowledge base: seeding once, checking the version at most every KB_REFRESH_SECONDS, swapping whole.

On SQLite and PostgreSQL. Several apps on one database stand for several processes;
tests/test_production.py does the same with real gunicorn instances.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from app.extensions import db
from app.services.knowledge_base import KnowledgeBaseService, slug
from app.storage.knowledge_base import KnowledgeBaseStore
from app.storage.models import FaqPhrasing, FaqRecord
from tests.deepseek_standin import Reply
from tests.staff import add_staff, bearer
from tests.support import shipped_knowledge_base

pytestmark = pytest.mark.both_databases

SEED = shipped_knowledge_base()
KALE = {"id": "organic-kale", "phrasings": ["Do you sell organic kale?"], "answer": "Yes: organic kale, every day."}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStore(KnowledgeBaseStore):
    """The real store, counting the version checks and full reads; `gate` can hold a version check."""

    def __init__(self, session) -> None:
        super().__init__(session)
        self.checks = self.reads = 0
        self.gate: threading.Event | None = None
        self.failing = False

    def version(self):
        self.checks += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.failing:
            raise ConnectionError("the database went away")
        return super().version()

    def read(self):
        self.reads += 1
        return super().read()


@pytest.fixture
def counted(app):
    """A knowledge base service of its own (as another process has) on the app's database, with KB_REFRESH_SECONDS
    of 1, a clock moved by hand and a counting store; used inside an app context."""
    clock = Clock()
    store = CountingStore(db.session)
    with app.app_context():
        yield KnowledgeBaseService(store, SEED, refresh_seconds=1.0, clock=clock), store, clock


def test_the_version_is_checked_at_most_every_refresh_seconds_and_the_index_rebuilt_only_on_change(app, counted):
    knowledge, store, clock = counted
    first = knowledge.current()
    for moment in (0.1, 0.5, 0.99):
        clock.now = moment
        assert knowledge.current() is first
    assert (store.checks, store.reads) == (1, 1)

    clock.now = 1.0
    assert knowledge.current() is first  # checked, unchanged: the same index
    assert (store.checks, store.reads) == (2, 1)

    app.extensions["knowledge_base"].create(KALE)  # the app's own service: another process's change
    clock.now = 1.5
    assert knowledge.current() is first  # not due yet
    clock.now = 2.0
    changed = knowledge.current()

    assert (store.checks, store.reads) == (3, 2)
    assert changed is not first and changed.version == first.version + 1
    assert changed.index.match("Do you sell organic kale?").entry.id == "organic-kale"
    assert first.index.match("Do you sell organic kale?") is None  # a snapshot never changes


def test_the_process_that_made_a_change_answers_with_it_at_once(make_app):
    client = make_app(KB_REFRESH_SECONDS=3600).test_client()
    admin = bearer(add_staff(client.application, "Sam", "admin"))
    client.post("/api/v1/chat", json={"message": "what are your delivery hours"})  # loads the index

    client.post("/api/v1/staff/faqs", headers=admin, json=KALE)

    assert client.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()["source"] == "faq"


def test_another_process_answers_with_a_change_within_its_refresh_and_not_before(make_app, standin):
    editor = make_app().test_client()
    admin = bearer(add_staff(editor.application, "Sam", "admin"))
    quick = make_app(KB_REFRESH_SECONDS=0.5, RATE_LIMITS="1000/minute").test_client()
    slow = make_app(KB_REFRESH_SECONDS=3600).test_client()
    for client in (quick, slow):
        client.post("/api/v1/chat", json={"message": "what are your delivery hours"})
    standin.default = Reply(content="Let me check.")

    assert editor.post("/api/v1/staff/faqs", headers=admin, json=KALE).status_code == 201
    changed_at = time.monotonic()
    while quick.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()["source"] != "faq":
        assert time.monotonic() - changed_at < 5
        time.sleep(0.05)

    assert time.monotonic() - changed_at < 5
    assert slow.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()["source"] == "llm"
    standin.default = Reply()


def test_a_failed_check_keeps_answering_from_the_index_it_has(counted):
    knowledge, store, clock = counted
    first = knowledge.current()
    store.failing = True
    clock.now = 5.0

    with capture_logs() as logs:
        assert knowledge.current() is first
        clock.now = 5.5
        assert knowledge.current() is first  # not checked again before KB_REFRESH_SECONDS

    assert store.checks == 2
    [warning] = [log for log in logs if log["event"] == "knowledge_base_check_failed"]
    assert (warning["log_level"], warning["error_type"], warning["version"]) == ("warning", "ConnectionError", 1)


def test_without_any_index_a_failed_first_load_raises(counted):
    knowledge, store, _ = counted
    store.failing = True

    with pytest.raises(ConnectionError):
        knowledge.current()


def test_while_one_thread_checks_the_others_answer_from_the_snapshot_they_have(app, counted):
    knowledge, store, clock = counted
    gate = threading.Event()
    first = knowledge.current()
    store.gate = gate
    clock.now = 10.0

    def check_in_a_thread():
        with app.app_context():
            return knowledge.current()

    with ThreadPoolExecutor(max_workers=1) as pool:
        checking = pool.submit(check_in_a_thread)
        while store.checks < 2:  # the thread is inside the version check, holding the lock
            time.sleep(0.01)
        started = time.monotonic()
        assert knowledge.current() is first
        waited = time.monotonic() - started
        gate.set()
        assert checking.result(timeout=5) is first

    assert waited < 1.0
    assert store.checks == 2


def test_several_processes_starting_on_an_empty_database_seed_it_exactly_once(make_app):
    apps = [make_app() for _ in range(4)]  # each with its own engine and connections
    barrier = threading.Barrier(len(apps))

    def first_use(app):
        with app.app_context():
            barrier.wait()
            return app.extensions["knowledge_base"].current()

    with capture_logs() as logs, ThreadPoolExecutor(max_workers=len(apps)) as pool:
        snapshots = list(pool.map(first_use, apps))

    assert [log["event"] for log in logs].count("knowledge_base_seeded") == 1
    assert [log["event"] for log in logs].count("knowledge_base_loaded") == len(apps)
    assert {len(snapshot.knowledge_base.entries) for snapshot in snapshots} == {12}
    assert {snapshot.version for snapshot in snapshots} == {1}
    with apps[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(FaqRecord)) == 12
        assert db.session.scalar(select(func.count()).select_from(FaqPhrasing)) == sum(
            len(entry.phrasings) for entry in SEED.entries
        )


def test_a_seeded_database_is_not_seeded_again_even_when_emptied_by_staff(make_app, tmp_path):
    app = make_app()
    admin = bearer(add_staff(app, "Sam", "admin"))
    client = app.test_client()
    for entry in SEED.entries:
        client.delete(f"/api/v1/staff/faqs/{entry.id}", headers=admin)

    restarted = make_app().test_client()

    assert restarted.get("/api/v1/staff/faqs", headers=admin).get_json()["total"] == 0


def test_a_change_survives_a_restart(make_app):
    app = make_app()
    admin = bearer(add_staff(app, "Sam", "admin"))
    app.test_client().post("/api/v1/staff/faqs", headers=admin, json=KALE)

    restarted = make_app().test_client()

    answer = restarted.post("/api/v1/chat", json={"message": "Do you sell organic kale?"}).get_json()
    assert (answer["source"], answer["content"]) == ("faq", KALE["answer"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Do you sell organic kale?", "do-you-sell-organic-kale"),
        ("  Crème brûlée — in stock?? ", "creme-brulee-in-stock"),
        ("a" * 60, "a" * 48),
        ("word " * 20, "-".join(["word"] * 9)),  # cut at a dash, within 48 characters
        ("你好", ""),
    ],
)
def test_slug(text, expected):
    assert slug(text) == expected


@pytest.mark.parametrize("setting", ["KB_PROMPT_MAX_CHARS", "KB_REFRESH_SECONDS"])
def test_a_negative_knowledge_base_setting_stops_the_app(make_app, setting):
    with pytest.raises(ValueError, match=f"{setting} must be 0 or more, got -1"):
        make_app(**{setting: -1})
