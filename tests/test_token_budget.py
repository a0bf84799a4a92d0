"""DEEPSEEK_DAILY_TOKEN_BUDGET: once the day's tokens are spent, DeepSeek is not called until UTC midnight.

Counted in Redis (REDIS_URL) across every process and instance, or in memory without it.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import redis

from app.metrics import DEEPSEEK_BUDGET_EXHAUSTED
from app.services.token_budget import DailyTokenBudget
from tests import sse
from tests.deepseek_standin import Reply
from tests.support import read_log, wait_until

USAGE = {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100}  # 100 tokens a call
LLM_ONLY = "Tell me a joke about carrots"  # no FAQ is related: DeepSeek or nothing
RELATED = "the strawberries were moldy"  # DeepSeek, else the related FAQ as a fallback


def ask(client, message, path="/api/v1/chat"):
    return client.post(path, json={"message": message})


def test_once_the_budget_is_spent_deepseek_is_not_called(make_app, standin, log_file):
    client = make_app(DEEPSEEK_DAILY_TOKEN_BUDGET=250, RATE_LIMITS="100/minute").test_client()
    standin.default = Reply(content="A carrot joke.", usage=USAGE)
    refused_before = DEEPSEEK_BUDGET_EXHAUSTED._value.get()
    try:
        answered = [ask(client, LLM_ONLY).status_code for _ in range(3)]  # 100, 200, then 300 >= 250
        refused = ask(client, LLM_ONLY)
        faq = ask(client, "what are your delivery hours")
    finally:
        standin.default = Reply()

    assert answered == [200, 200, 200] and len(standin.requests) == 3
    assert refused.status_code == 503
    body = refused.get_json()
    assert body["error"]["code"] == "BUDGET_EXHAUSTED" and body["metadata"]["error_code"] == "BUDGET_EXHAUSTED"
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert abs(int(refused.headers["Retry-After"]) - (midnight - datetime.now(timezone.utc)).total_seconds()) < 5
    assert faq.status_code == 200 and faq.get_json()["source"] == "faq"  # the FAQ needs no tokens
    assert DEEPSEEK_BUDGET_EXHAUSTED._value.get() == refused_before + 1
    [warning] = [line for line in read_log(log_file) if line["event"] == "deepseek_budget_exhausted"]
    assert warning["level"] == "warning" and warning["budget"] == 250 and warning["spent"] == 300


def test_a_spent_budget_answers_from_a_related_faq_or_refuses_before_streaming(make_app, standin):
    client = make_app(DEEPSEEK_DAILY_TOKEN_BUDGET=100, RATE_LIMITS="100/minute").test_client()
    standin.push(Reply(content="Streamed.", usage=USAGE))
    assert sse.parse(ask(client, LLM_ONLY, "/api/v1/chat/stream").get_data(as_text=True))[-1].event == "done"

    fallback = ask(client, RELATED)
    streamed_fallback = sse.parse(ask(client, RELATED, "/api/v1/chat/stream").get_data(as_text=True))
    refused_stream = ask(client, LLM_ONLY, "/api/v1/chat/stream")

    assert len(standin.requests) == 1  # the streamed answer's usage was counted
    assert fallback.status_code == 200 and fallback.get_json()["source"] == "faq_fallback"
    assert streamed_fallback[-1].data["source"] == "faq_fallback"
    assert refused_stream.status_code == 503 and refused_stream.mimetype == "application/json"
    assert refused_stream.get_json()["error"]["code"] == "BUDGET_EXHAUSTED"


def test_a_stream_the_customer_left_is_counted_by_estimate(make_app, serve, standin):
    app = make_app(DEEPSEEK_DAILY_TOKEN_BUDGET=50, RATE_LIMITS="100/minute", STREAM_HEARTBEAT_SECONDS=0.1)
    base_url = serve(app)
    standin.push(Reply(content="y" * 400, chunk_size=4, chunk_delay=0.05))  # never finishes: no usage reported

    response = sse.open_stream(base_url, {"message": "Tell me a long story about carrots " * 20})
    next(e for e in sse.read_events(response) if e.event == "delta")
    response.close()
    assert standin.wait_for_disconnect(timeout=3.0)

    assert wait_until(app.extensions["chatbot"].budget.exhausted, timeout=5.0)  # the prompt alone is over 50 tokens


def test_two_instances_share_one_budget_through_redis(make_app, standin, redis_url):
    settings = {"DEEPSEEK_DAILY_TOKEN_BUDGET": 250, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": f"{uuid.uuid4().hex}:",
                "RATE_LIMITS": "100/minute"}
    one, two = make_app(**settings).test_client(), make_app(**settings).test_client()
    standin.default = Reply(content="A carrot joke.", usage=USAGE)
    try:
        statuses = [ask(client, LLM_ONLY).status_code for client in (one, two, one, two, one)]
    finally:
        standin.default = Reply()

    assert statuses == [200, 200, 200, 503, 503]
    assert len(standin.requests) == 3


def test_concurrent_spenders_in_two_processes_lose_no_token(redis_url):
    prefix = f"{uuid.uuid4().hex}:"
    budgets = [DailyTokenBudget(10**9, redis.Redis.from_url(redis_url), prefix) for _ in range(2)]

    def spend_many(budget):
        for _ in range(200):
            budget.spend(7)

    with ThreadPoolExecutor(max_workers=8) as pool:  # 8 writers at once, on two connections
        list(pool.map(spend_many, budgets * 4))

    assert budgets[0].spent() == budgets[1].spent() == 8 * 200 * 7


def test_the_count_lives_in_a_key_per_utc_day_that_expires(redis_url):
    connection = redis.Redis.from_url(redis_url)
    prefix = f"{uuid.uuid4().hex}:"
    now = [datetime(2026, 11, 30, 23, 59, 30, tzinfo=timezone.utc)]
    budget = DailyTokenBudget(100, connection, prefix, clock=lambda: now[0])

    budget.spend(120)
    key = f"{prefix}deepseek_tokens:2026-11-30"

    assert budget.exhausted() and int(connection.get(key)) == 120
    assert 0 < connection.ttl(key) <= 2 * 24 * 3600
    assert budget.seconds_until_reset() == 30
    now[0] += timedelta(seconds=31)  # past UTC midnight: a new day, a new count
    assert not budget.exhausted() and budget.spent() == 0


def test_without_redis_each_process_counts_in_memory_and_midnight_resets_it():
    now = [datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)]
    budget = DailyTokenBudget(100, None, "", clock=lambda: now[0])

    budget.spend(60)
    assert not budget.exhausted()
    budget.spend(40)
    assert budget.exhausted() and budget.spent() == 100
    now[0] += timedelta(hours=12)
    assert not budget.exhausted() and budget.spent() == 0


def test_when_redis_goes_away_questions_are_answered_and_counted_in_memory(make_app, standin, private_redis, log_file):
    client = make_app(DEEPSEEK_DAILY_TOKEN_BUDGET=250, REDIS_URL=private_redis.url, RATE_LIMITS="100/minute") \
        .test_client()
    standin.default = Reply(content="A carrot joke.", usage=USAGE)
    try:
        assert ask(client, LLM_ONLY).status_code == 200  # 100 counted in Redis
        private_redis.stop()
        during = [ask(client, LLM_ONLY).status_code for _ in range(4)]  # counted in this process: 0, 100, 200, 300
    finally:
        standin.default = Reply()

    assert during == [200, 200, 200, 503]
    warnings = [line for line in read_log(log_file) if line["event"] == "token_budget_storage_unavailable"]
    assert warnings and warnings[0]["level"] == "warning"


def test_no_budget_means_no_cap(app):
    assert app.config["DEEPSEEK_DAILY_TOKEN_BUDGET"] == 0 and app.config["REDIS_URL"] == ""
    assert app.extensions["chatbot"].budget is None


def test_a_redis_that_stops_answering_is_left_alone_for_a_while_and_the_count_kept_in_memory(private_redis):
    budget = DailyTokenBudget(100, redis.Redis.from_url(private_redis.url, socket_timeout=0.5), f"{uuid.uuid4().hex}:")
    private_redis.stop()

    budget.spend(0)  # nothing billed: Redis is not even asked
    budget.spend(60)  # Redis fails: counted in this process
    budget.spend(40)

    assert budget.spent() == 100 and budget.exhausted()
