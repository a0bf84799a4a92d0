"""The live knowledge base across gunicorn instances (two workers each) sharing one PostgreSQL database.

Needs TEST_DATABASE_URL and TEST_REDIS_URL, as tests/test_production.py does; skipped without them.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.storage.models import FaqRecord
from tests.staff import add_staff
from tests.test_production import HTTP, shared_services, start_instances  # noqa: F401  (fixtures)

KALE = {"id": "organic-kale", "phrasings": ["Do you sell organic kale?"], "answer": "Yes: organic kale, every day."}
CHANGE_WITHIN = 5.0  # seconds: the promise of the issue


@pytest.fixture
def pair(shared_services, start_instances):  # noqa: F811
    """Two instances on an empty, migrated database, started at once, and an admin token; the instances' settings."""
    database_url, redis_url = shared_services
    app = create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_FILE": ""})
    admin = add_staff(app, "Sam", "admin")
    settings = dict(DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
                    RATE_LIMITS="1000/minute", KB_REFRESH_SECONDS="1")
    return start_instances(2, **settings), admin, app, settings


def staff_request(instance, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return HTTP.request(method, f"{instance.url}/api/v1/staff{path}", headers=headers,
                        body=json.dumps(body) if body is not None else None)


def answer(instance, question):
    response = instance.chat(question)
    assert response.status == 200, response.data
    return json.loads(response.data)


def until_every_worker_answers(instance, question, content, started):
    """Ask until six answers in a row (any worker) are `content`; return the seconds since `started`."""
    in_a_row = 0
    while in_a_row < 6:
        in_a_row = in_a_row + 1 if answer(instance, question)["content"] == content else 0
        assert time.monotonic() - started < CHANGE_WITHIN + 1, "the change did not reach every worker"
    return time.monotonic() - started


def test_instances_starting_together_seed_once_and_a_change_on_one_reaches_the_other_within_5_s(pair, standin):
    (a, b), admin, app, _ = pair
    with ThreadPoolExecutor(max_workers=8) as pool:  # first use on every worker at once: all race to seed
        first = list(pool.map(lambda n: answer((a, b)[n % 2], "what are your delivery hours"), range(8)))
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(FaqRecord))
    seeded = sum(instance.log.read_text().count('"knowledge_base_seeded"') for instance in (a, b))

    created = staff_request(a, "POST", "/faqs", admin, KALE)
    took = until_every_worker_answers(b, "Do you sell organic kale?", KALE["answer"], time.monotonic())

    assert {response["source"] for response in first} == {"faq"}
    assert (stored, seeded) == (12, 1)
    assert created.status == 201
    assert took < CHANGE_WITHIN
    changed = staff_request(b, "PUT", "/faqs/organic-kale", admin, {**KALE, "answer": "Only on Fridays."})
    assert changed.status == 200
    assert until_every_worker_answers(a, "Do you sell organic kale?", "Only on Fridays.", time.monotonic()) < CHANGE_WITHIN


def test_a_change_survives_restarting_every_instance(pair, start_instances):  # noqa: F811
    (a, b), admin, _, settings = pair
    standin_answer = answer(a, "Do you sell organic kale?")
    assert staff_request(a, "POST", "/faqs", admin, KALE).status == 201

    a.stop()
    b.stop()
    [restarted] = start_instances(1, **settings)

    assert standin_answer["source"] == "llm"
    assert answer(restarted, "Do you sell organic kale?")["content"] == KALE["answer"]
    listed = json.loads(staff_request(restarted, "GET", "/faqs?q=kale", admin).data)
    assert [(entry["id"], entry["hit_count"]) for entry in listed["faqs"]] == [("organic-kale", 1)]
