"""DeepSeekClient on its own, over HTTP against the stand-in."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from structlog.testing import capture_logs

from app.errors import UpstreamBusy, UpstreamError, UpstreamTimeout
from app.services.deepseek_wire import sse_data
from app.services.llm import Completion, StreamCancelled, Usage, parse_completion
from app.services.timeouts import Deadline
from tests.deepseek_standin import Reply

MESSAGES = [{"role": "user", "content": "hello"}]


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

    completion = make_client(timeout=5.0).complete(MESSAGES)

    assert completion.content == "ok"
    first, second = standin.requests
    assert second.at - first.at >= 1.0


def test_no_retry_when_max_retries_is_zero(make_client, standin):
    standin.push(Reply(status=503), Reply(content="never asked"))

    with pytest.raises(UpstreamBusy):
        make_client(max_retries=0).complete(MESSAGES)
    assert len(standin.requests) == 1


def test_retries_stop_at_the_deadline(make_client, standin):
    standin.default = Reply(status=500)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamError):  # 50 retries with backoff would take minutes
            make_client(timeout=1.0, max_retries=50, retry_backoff=0.1).complete(MESSAGES)
        elapsed = time.monotonic() - started
    finally:
        standin.default = Reply()

    assert elapsed < 5.0
    assert 2 <= len(standin.requests) < 10


def test_the_deadline_covers_the_whole_answer_not_each_read(make_client, standin):
    standin.push(Reply(keepalives=100, keepalive_interval=0.1))  # 10 s of blank lines, each resetting a read timeout

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        make_client(timeout=0.8).complete(MESSAGES)

    assert time.monotonic() - started < 5.0


def test_deadline_arithmetic():
    roomy, short = Deadline(60.0), Deadline(0.05)
    assert 0 < roomy.remaining() <= 60.0 and not roomy.expired
    assert roomy.http_timeout(connect=5.0)["connect"] == 5.0
    assert all(0 < seconds <= 0.05 for seconds in short.http_timeout(connect=5.0).values())
    time.sleep(0.06)
    assert short.expired and short.remaining() == 0.0


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


def test_the_request_carries_the_key_as_a_bearer_token_and_the_settings(make_client, standin):
    client = make_client(model="deepseek-chat", temperature=0.3, max_tokens=321)
    client.complete(MESSAGES)
    list(client.stream(MESSAGES))

    answer, stream = standin.requests
    assert answer.path == stream.path == "/chat/completions"
    assert answer.headers["authorization"] == "Bearer sk-test"
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["accept-encoding"] == "identity"  # nothing compressed: nothing to decompress
    assert answer.body == {"model": "deepseek-chat", "messages": MESSAGES, "temperature": 0.3, "max_tokens": 321,
                           "stream": False}
    assert stream.body["stream"] is True and stream.body["stream_options"] == {"include_usage": True}


def test_a_stream_yields_text_and_ends_with_its_completion(make_client, standin):
    standin.push(Reply(content="Kale is in stock.", reasoning="hidden thoughts", chunk_size=4, keepalives=2))

    stream = make_client().stream(MESSAGES)
    pieces = list(stream)

    assert "".join(pieces) == "Kale is in stock." and len(pieces) == 5
    assert stream.received == pieces
    assert stream.completion.content == "Kale is in stock." and stream.completion.finish_reason == "stop"
    assert stream.completion.usage is not None


def test_an_error_event_mid_stream_is_an_upstream_error(make_client, standin):
    standin.push(Reply(raw=b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n',
                       raw_content_type="text/event-stream"))

    with capture_logs() as logs, pytest.raises(UpstreamError):
        list(make_client().stream(MESSAGES))

    [line] = [line for line in logs if line["event"] == "llm_bad_response"]
    assert (line["reason"], line["upstream_error"]) == ("error_event", "overloaded")


def test_a_stream_cancelled_before_it_opened_reads_nothing(make_client, standin):
    stream = make_client().stream(MESSAGES)
    stream.cancel()

    with pytest.raises(StreamCancelled):
        list(stream)
    assert stream.received == []


@pytest.mark.parametrize("framing", ["chunked", "close"])
@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="z" * 800, chunk_size=4, chunk_delay=0.05),  # writing: 10 s of pieces
        Reply(keepalives=20, keepalive_interval=0.5),  # queued: a keep-alive every 0.5 s for 10 s
    ],
    ids=["writing", "queued"],
)
def test_cancelling_from_another_thread_stops_the_stream(make_client, standin, framing, reply):
    standin.push(dataclasses.replace(reply, framing=framing))
    stream = make_client(timeout=10.0).stream(MESSAGES)

    threading.Timer(0.3, stream.cancel).start()
    started = time.monotonic()
    with pytest.raises(StreamCancelled):
        for _ in stream:
            pass

    assert time.monotonic() - started < 5.0  # cancelled after 0.3 s, well before the stand-in's 10 s
    assert standin.wait_for_disconnect(timeout=3.0)
    assert stream.completion is None and len("".join(stream.received)) < 800


@pytest.mark.parametrize(
    ("chunks", "first"),
    [
        ([b'data: {"a": 1}\n\n', b": keep-alive\n\n", b'data: {"a": 2}\n\n', b"data: [DONE]\n\n"], b'{"a": 1}'),
        ([b'data: {"a"', b": 1}\r", b"\n\r\n: keep-alive\r\n\r", b'\ndata:{"a": 2}\r\rdata: [DONE]\r\n\r\n'],
         b'{"a": 1}'),
        ([b'event: message\nid: 7\ndata: {"a"\ndata: : 1}\n\n', b'retry: 10\ndata: {"a": 2}\n\ndata: [DONE]\n\n'],
         b'{"a"\n: 1}'),
    ],
    ids=["lf", "crlf-and-cr-split-anywhere", "fields-and-multi-line-data"],
)
def test_event_stream_data_is_read_however_lines_end_and_chunks_split(chunks, first):
    assert list(sse_data(iter(chunks))) == [first, b'{"a": 2}', b"[DONE]"]
