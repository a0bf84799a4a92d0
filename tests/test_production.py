"""Two app instances (separate gunicorn processes, gevent workers) sharing Redis and PostgreSQL.

Needs TEST_DATABASE_URL and TEST_REDIS_URL (`.ci/run` sets them); skipped without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.storage.models import FaqRecord
from tests import sse
from tests.deepseek_standin import Reply
from tests.helpdesk import WEBHOOK_SECRET, enqueue, new_conversation
from tests.staff import add_staff
from tests.support import API_KEY, PROJECT_ROOT, empty_tables, free_port, log_events, wait_for_port, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]
HTTP = urllib3.PoolManager(retries=False, timeout=30)


class Instance:
    """One gunicorn process serving the app."""

    def __init__(self, port: int, process: subprocess.Popen[bytes], metrics_dir: Path, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = process
        self.metrics_dir = metrics_dir
        self.log = log

    def chat(self, message: str, conversation_id: str | None = None, headers: dict[str, str] | None = None):
        body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
        return HTTP.request("POST", f"{self.url}/api/v1/chat", body=json.dumps(body),
                            headers={"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str):
        return HTTP.request("GET", f"{self.url}{path}")

    def stop(self) -> None:
        """Ask gunicorn to shut down gracefully (SIGTERM)."""
        self.process.terminate()

    def wait_stopped(self) -> None:
        """Wait for the shutdown; kill the process if it takes longer than 15 s."""
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def emptied(postgres_url: str) -> str:
    """Empty the PostgreSQL test database (migrated once per run, as `flask db upgrade` does before gunicorn)."""
    empty_tables(postgres_url)
    return postgres_url


@pytest.fixture
def shared_services(postgres_url, redis_url, standin):
    """PostgreSQL migrated and empty, and a Redis URL; skipped unless both are configured."""
    return emptied(postgres_url), redis_url


@pytest.fixture
def start_instances(tmp_path, standin) -> Iterator:
    """Start gunicorn instances with the given settings; they are stopped after the test."""
    started: list[Instance] = []

    def start(count: int, **settings: str) -> list[Instance]:
        instances = []
        for n in range(count):
            port = free_port()
            metrics_dir = tmp_path / f"metrics-{port}"
            log = tmp_path / f"instance-{n}-{port}.log"
            env = {
                **os.environ,
                "FLASK_ENV": "production",
                "FORCE_HTTPS": "false",
                "PORT": str(port),
                "HOST": "127.0.0.1",
                "WEB_CONCURRENCY": "2",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "DEEPSEEK_API_KEY": API_KEY,
                "DEEPSEEK_BASE_URL": standin.url,
                "DEEPSEEK_RETRY_BACKOFF": "0.01",
                "LOG_FILE": "",
                "LOG_TO_STDOUT": "true",
                **settings,
            }
            with open(log, "wb") as output:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                    cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                )
            instance = Instance(port, process, metrics_dir, log)
            started.append(instance)
            instances.append(instance)
        for instance in instances:
            wait_for_port(int(instance.url.rsplit(":", 1)[1]), timeout=60)
            _wait_healthy(instance)
        return instances

    yield start
    HTTP.clear()  # an idle keep-alive connection holds a worker's graceful shutdown for GUNICORN_KEEPALIVE
    for instance in started:
        instance.stop()
    for instance in started:
        instance.wait_stopped()


def _wait_healthy(instance: Instance, timeout: float = 60.0) -> None:
    def healthy() -> bool:
        try:
            return instance.get("/health").status == 200
        except urllib3.exceptions.HTTPError:
            return False

    if not wait_until(healthy, timeout, interval=0.2):
        raise TimeoutError(f"{instance.url} never became healthy:\n{instance.log.read_text()[-2000:]}")


def test_a_limit_of_n_allows_exactly_n_successes_across_both_even_with_forged_addresses(
    shared_services, start_instances
):
    database_url, redis_url = shared_services
    a, b = start_instances(2, DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url,
                           RATELIMIT_KEY_PREFIX=uuid.uuid4().hex, RATE_LIMITS="7/minute", TRUSTED_PROXIES="0")

    plain = [(a if n % 2 else b).chat("what are your delivery hours").status for n in range(4)]
    forged = [(a if n % 2 else b).chat("what are your delivery hours", headers={"X-Forwarded-For": f"10.0.0.{n}"})
              .status for n in range(8)]

    assert plain + forged == [200] * 7 + [429] * 5


@pytest.fixture
def roomy_pair(shared_services, start_instances):
    """Two instances with a limit no test reaches."""
    database_url, redis_url = shared_services
    return start_instances(2, DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url,
                           RATELIMIT_KEY_PREFIX=uuid.uuid4().hex, RATE_LIMITS="1000/minute")


def test_a_conversation_started_on_one_continues_on_the_other_and_metrics_sum_every_worker(roomy_pair, standin):
    a, b = roomy_pair
    standin.push(Reply(content="We stock kale daily."), Reply(content="Yes, certified organic."))

    first = json.loads(a.chat("Do you sell kale?").data)
    second = b.chat("Is it organic?", first["conversation_id"])
    history = json.loads(b.get(f"/api/v1/conversations/{first['conversation_id']}").data)

    assert second.status == 200
    assert [m["content"] for m in standin.requests[-1].body["messages"] if m["role"] != "system"] == [
        "Do you sell kale?", "We stock kale daily.", "Is it organic?",
    ]
    assert [m["content"] for m in history["messages"]] == [
        "Do you sell kale?", "We stock kale daily.", "Is it organic?", "Yes, certified organic.",
    ]

    standin.default = Reply(content="Slow kale.", delay=0.3)
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(lambda _: a.chat("Do you sell organic kale?").status, range(24)))
    finally:
        standin.default = Reply()
    text = a.get("/metrics").data.decode()
    [served] = [line for line in text.splitlines()
                if line.startswith("http_requests_total{") and 'route="/api/v1/chat"' in line and 'status="200"' in line]
    worker_files = {path.name.rsplit("_", 1)[-1] for path in a.metrics_dir.glob("counter_*.db")}
    assert statuses == [200] * 24
    assert float(served.rsplit(" ", 1)[1]) == 25  # the first question, then the 24 concurrent ones
    assert len(worker_files) >= 2  # more than one worker served, and /metrics summed them


def test_when_redis_stops_mid_run_chats_are_still_served(postgres_url, private_redis, start_instances):
    [instance] = start_instances(1, DATABASE_URL=emptied(postgres_url), RATELIMIT_STORAGE_URI=private_redis.url,
                                 RATE_LIMITS="100/minute")
    assert instance.chat("what are your delivery hours").status == 200

    private_redis.stop()
    statuses = [instance.chat("what are your delivery hours").status for _ in range(6)]
    ready = instance.get("/ready")

    assert statuses == [200] * 6
    assert ready.status == 503 and json.loads(ready.data)["checks"]["rate_limit_storage"] == "unavailable"
    assert "falling back to in-memory storage" in instance.log.read_text()


def test_the_daily_token_budget_is_one_budget_across_instances_and_workers(shared_services, start_instances, standin):
    database_url, redis_url = shared_services
    a, b = start_instances(2, DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url, REDIS_URL=redis_url,
                           REDIS_KEY_PREFIX=f"{uuid.uuid4().hex}:", RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
                           RATE_LIMITS="1000/minute", DEEPSEEK_DAILY_TOKEN_BUDGET="250")
    usage = {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100}
    standin.default = Reply(content="A carrot joke.", usage=usage)
    try:
        responses = [instance.chat("Tell me a joke about carrots") for instance in (a, b, a, b, a, b)]
    finally:
        standin.default = Reply()

    assert [response.status for response in responses] == [200, 200, 200, 503, 503, 503]
    assert {json.loads(response.data)["error"]["code"] for response in responses[3:]} == {"BUDGET_EXHAUSTED"}
    assert len(standin.requests) == 3


def test_the_workers_of_two_instances_deliver_each_webhook_event_exactly_once(shared_services, start_instances,
                                                                             helpdesk):
    database_url, redis_url = shared_services
    webhook = {"HANDOFF_WEBHOOK_URL": helpdesk.url, "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET}
    instances = start_instances(2, DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url,
                                RATELIMIT_KEY_PREFIX=uuid.uuid4().hex, WEBHOOK_POLL_SECONDS="0.1", **webhook)
    # Another process writes the events, as a third instance whose dispatcher is busy would; four workers race.
    producer = create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_FILE": "", **webhook})
    conversations = [new_conversation(producer) for _ in range(20)]
    for n in range(200):
        enqueue(producer, conversations[n % 20], "message.created", {"n": n})

    accepted = helpdesk.wait_for(200, timeout=60)
    # Each worker counts its own deliveries; /metrics of an instance sums its workers.
    assert wait_until(lambda: sum(delivered_count(instance) for instance in instances) == 200, timeout=10)
    HTTP.clear()  # idle keep-alive connections would hold the workers' graceful shutdown
    for instance in instances:
        instance.stop()
    for instance in instances:
        instance.wait_stopped()

    assert len(helpdesk.received) == 200 and len({item.event_id for item in accepted}) == 200
    assert all(item.signed for item in accepted)
    for conversation_id in conversations:
        numbers = [item.body["data"]["n"] for item in accepted if item.body["conversation_id"] == conversation_id]
        assert numbers == sorted(numbers) and len(numbers) == 10
    senders = {item.client_port for item in accepted}
    assert len(senders) >= 2  # more than one worker delivered
    for instance in instances:
        events = log_events(instance.log.read_text())
        assert events.count("webhook_dispatcher_started") == 2  # one per worker
        assert events.count("webhook_dispatcher_stopped") == 2  # gunicorn's worker_exit stopped them


def delivered_count(instance: Instance) -> float:
    """Return the instance's webhook_deliveries_total{outcome="delivered"}, summed over its workers."""
    for line in instance.get("/metrics").data.decode().splitlines():
        if line.startswith('webhook_deliveries_total{outcome="delivered"} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# The live knowledge base: FAQ changes reach every worker of every instance within 5 s, and stay.

KALE = {"id": "organic-kale", "phrasings": ["Do you sell organic kale?"], "answer": "Yes: organic kale, every day."}
CHANGE_WITHIN = 5.0  # seconds: the promise of the issue


@pytest.fixture
def knowledge_pair(shared_services, start_instances):
    """Two instances on an empty, migrated database, started at once, and an admin token; the instances' settings."""
    database_url, redis_url = shared_services
    app = create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_FILE": ""})
    admin = add_staff(app, "Sam", "admin")
    settings = dict(DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
                    RATE_LIMITS="1000/minute", KB_REFRESH_SECONDS="1")
    yield start_instances(2, **settings), admin, app, settings
    app.extensions["live_events"].close()
    with app.app_context():
        db.engine.dispose()


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


def test_instances_starting_together_seed_once_and_a_change_on_one_reaches_the_other_within_5_s(knowledge_pair):
    (a, b), admin, app, _ = knowledge_pair
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


def test_a_knowledge_base_change_survives_restarting_every_instance(knowledge_pair, start_instances):
    (a, b), admin, _, settings = knowledge_pair
    standin_answer = answer(a, "Do you sell organic kale?")
    assert staff_request(a, "POST", "/faqs", admin, KALE).status == 201

    HTTP.clear()
    for instance in (a, b):
        instance.stop()
    for instance in (a, b):
        instance.wait_stopped()
    [restarted] = start_instances(1, **settings)

    assert standin_answer["source"] == "llm"
    assert answer(restarted, "Do you sell organic kale?")["content"] == KALE["answer"]
    listed = json.loads(staff_request(restarted, "GET", "/faqs?q=kale", admin).data)
    assert [(entry["id"], entry["hit_count"]) for entry in listed["faqs"]] == [("organic-kale", 1)]


# Handoff across instances: an agent's message reaches a customer's stream on the other instance; one claim wins.

DELIVERED_WITHIN = 2.0  # seconds: the promise of the issue


@pytest.fixture
def handoff_pair(shared_services, start_instances):
    """Two instances sharing PostgreSQL and Redis (live events too), and two agents' tokens."""
    database_url, redis_url = shared_services
    app = create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_FILE": ""})
    tokens = add_staff(app, "Dana"), add_staff(app, "Sam")
    instances = start_instances(2, DATABASE_URL=database_url, RATELIMIT_STORAGE_URI=redis_url, REDIS_URL=redis_url,
                                REDIS_KEY_PREFIX=f"{uuid.uuid4().hex}:", RATELIMIT_KEY_PREFIX=uuid.uuid4().hex,
                                RATE_LIMITS="1000/minute", STREAM_HEARTBEAT_SECONDS="10")
    yield instances, tokens
    app.extensions["live_events"].close()
    with app.app_context():
        db.engine.dispose()


def handed_off_on(instance):
    body = answer(instance, "can I talk to a human please")
    assert body["state"] == "waiting"
    return body["conversation_id"]


def test_an_agents_message_posted_on_one_instance_reaches_a_customer_stream_on_the_other_within_2_s(handoff_pair):
    (a, b), (dana, _) = handoff_pair
    conversation_id = handed_off_on(a)
    assert staff_request(a, "POST", f"/conversations/{conversation_id}/claim", dana).status == 200
    stream = sse.open_get_stream(b.url, f"/api/v1/conversations/{conversation_id}/events")
    events = sse.read_events(stream)
    assert next(events).data == "listening"

    started = time.monotonic()
    sent = staff_request(a, "POST", f"/conversations/{conversation_id}/messages", dana, {"content": "Hi, Dana here."})
    received = next(event for event in events if event.event == "message")

    assert sent.status == 201
    assert received.at - started < DELIVERED_WITHIN
    assert (received.data["content"], received.data["author"]) == ("Hi, Dana here.", "Dana")
    stream.close()


def test_two_simultaneous_claims_on_two_instances_never_both_succeed(handoff_pair):
    (a, b), (dana, sam) = handoff_pair
    conversations = [handed_off_on(a if n % 2 else b) for n in range(6)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        for conversation_id in conversations:
            claims = [pool.submit(staff_request, instance, "POST", f"/conversations/{conversation_id}/claim", token)
                      for instance, token in ((a, dana), (b, sam))]
            statuses = sorted(claim.result().status for claim in claims)
            assert statuses == [200, 409], conversation_id
            holder = json.loads(staff_request(a, "GET", f"/conversations/{conversation_id}", dana).data)
            assert [m["event"] for m in holder["messages"] if m["role"] == "event"] == ["handoff", "claimed"]
