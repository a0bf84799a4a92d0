"""DeepSeekClient on its own, over HTTP against the stand-in."""

from __future__ import annotations

import time

import pytest

from app.errors import UpstreamBusy, UpstreamError, UpstreamTimeout
from app.services.llm import Completion, DeepSeekClient, Usage, parse_completion
from app.services.timeouts import Deadline
from tests.deepseek_standin import Reply

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def make_client(standin):
    clients = []

    def build(**overrides):
        settings = dict(
            api_key="sk-test", base_url=standin.url, model="deepseek-chat", timeout=2.0, max_retries=2,
            temperature=0.7, max_tokens=500, retry_backoff=0.01,
        )
        settings.update(overrides)
        client = DeepSeekClient(**settings)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def test_complete_returns_content_model_and_usage(make_client, standin):
    standin.push(Reply(content="  Fresh answer.  ", usage={
        "prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129,
        "prompt_cache_hit_tokens": 100, "prompt_cache_miss_tokens": 20,
    }))

    completion = make_client().complete(MESSAGES)

    assert completion == Completion(
        content="Fresh answer.", model="deepseek-chat", finish_reason="stop",
        usage=Usage(prompt_tokens=120, completion_tokens=9, cache_hit_tokens=100, cache_miss_tokens=20),
    )


def test_retries_wait_at_least_what_deepseek_asked(make_client, standin):
    standin.push(Reply(status=429, headers={"Retry-After": "1"}), Reply(content="ok"))

    started = time.monotonic()
    completion = make_client(timeout=5.0).complete(MESSAGES)

    assert completion.content == "ok"
    assert 1.0 <= time.monotonic() - started < 2.5


def test_no_retry_when_max_retries_is_zero(make_client, standin):
    standin.push(Reply(status=503), Reply(content="never asked"))

    with pytest.raises(UpstreamBusy):
        make_client(max_retries=0).complete(MESSAGES)
    assert len(standin.requests) == 1


def test_retries_stop_at_the_deadline(make_client, standin):
    standin.default = Reply(status=500)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamError):
            make_client(timeout=0.6, max_retries=50, retry_backoff=0.1).complete(MESSAGES)
        elapsed = time.monotonic() - started
    finally:
        standin.default = Reply()

    assert elapsed < 0.9
    assert 2 <= len(standin.requests) < 10


def test_the_deadline_covers_the_whole_answer_not_each_read(make_client, standin):
    standin.push(Reply(keepalives=40, keepalive_interval=0.1))

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        make_client(timeout=0.8).complete(MESSAGES)

    assert time.monotonic() - started < 1.5


def test_deadline_arithmetic():
    deadline = Deadline(0.05)
    assert 0 < deadline.remaining() <= 0.05
    assert deadline.http_timeout(connect=5.0).connect <= 0.05
    time.sleep(0.06)
    assert deadline.expired and deadline.remaining() == 0.0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b'"a string"',
        b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "stop"}],'
        b' "id": "x", "created": 1, "model": "m", "object": "chat.completion"}',
    ],
)
def test_parse_completion_refuses_what_is_not_an_answer(body):
    with pytest.raises(UpstreamError):
        parse_completion(body, "deepseek-chat")


def test_parse_completion_ignores_reasoning_and_tolerates_missing_usage():
    body = (
        b'{"id": "x", "object": "chat.completion", "created": 1, "model": "deepseek-reasoner",'
        b' "choices": [{"index": 0, "finish_reason": "stop",'
        b' "message": {"role": "assistant", "content": "Answer.", "reasoning_content": "hidden"}}]}'
    )

    completion = parse_completion(b"\n\n\n" + body, "deepseek-chat")

    assert completion == Completion(content="Answer.", model="deepseek-reasoner", finish_reason="stop", usage=None)
