"""DeepSeek's wire format read by hand: odd shapes are refused or ignored, never a crash."""

from __future__ import annotations

import orjson
import pytest

from app.errors import UpstreamError
from app.services.deepseek_wire import StreamedAnswer, Usage, error_summary, usage_from


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 12, "completion_tokens": 3}, Usage(12, 3)),
        ({"prompt_tokens": 12, "completion_tokens": 3, "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 4},
         Usage(12, 3, 8, 4)),
        ({"prompt_tokens": "12", "completion_tokens": 3}, None),
        ({"completion_tokens": 3}, None),
        ([12, 3], None),
        (None, None),
    ],
)
def test_usage_is_kept_only_when_its_counts_are_numbers(usage, expected):
    assert usage_from(usage) == expected


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (b'{"error": {"message": "Insufficient Balance", "type": "unknown_error"}}', "Insufficient Balance"),
        (b'{"error": "rate limited"}', "rate limited"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"x" * 500, "x" * 200),
        (b"", None),
    ],
)
def test_an_error_body_is_summed_up_for_the_log(body, summary):
    assert error_summary(body) == summary


@pytest.mark.parametrize(
    "delta",
    [
        {"content": 42},
        {"tool_calls": [{"index": 0, "id": "call_0", "function": {"name": "handoff", "arguments": {"a": 1}}}]},
        {"tool_calls": [{"index": "first", "id": "call_0", "function": {"name": "handoff"}}]},
    ],
    ids=["content-not-text", "arguments-not-text", "index-not-a-number"],
)
def test_a_stream_event_of_the_wrong_shape_is_an_upstream_error(delta):
    answer = StreamedAnswer("deepseek-chat")

    with pytest.raises(UpstreamError):
        answer.add(orjson.dumps({"choices": [{"index": 0, "delta": delta}]}))


def test_events_without_choices_carry_usage_and_nothing_else():
    answer = StreamedAnswer("deepseek-chat")

    assert answer.add(b'{"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}') == ""
    assert answer.add(b'{"choices": [{"delta": {"content": "Hi."}, "finish_reason": "stop"}]}') == "Hi."
    assert answer.completion().usage == Usage(5, 2)
