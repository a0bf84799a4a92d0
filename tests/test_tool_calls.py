"""Function calling through DeepSeekClient, in JSON and in streams, against the stand-in."""

from __future__ import annotations

import orjson
import pytest
from structlog.testing import capture_logs

from app.errors import UpstreamError
from app.services.deepseek_wire import StreamedAnswer
from app.services.llm import Completion, ToolCall
from tests.deepseek_standin import Call, Reply

MESSAGES = [{"role": "user", "content": "I want to talk to a person about a missing order."}]
HANDOFF = {
    "type": "function",
    "function": {
        "name": "handoff",
        "description": "Pass the conversation to a human support agent.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string"}, "order_id": {"type": "string"}},
            "required": ["reason"],
        },
    },
}
ARGUMENTS = {"reason": "missing order, wants a person", "order_id": "GG-10442"}


def read(client, mode, tools=(HANDOFF,)):
    """Ask in JSON or as a stream; return the completion and the text pieces a stream yielded."""
    if mode == "json":
        return client.complete(MESSAGES, tools=list(tools)), []
    stream = client.stream(MESSAGES, tools=list(tools))
    pieces = list(stream)
    return stream.completion, pieces


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_the_tools_are_offered_with_tool_choice_auto(make_client, standin, mode):
    read(make_client(), mode)

    body = standin.requests[0].body
    assert body["tools"] == [HANDOFF]
    assert body["tool_choice"] == "auto"
    assert body["stream"] is (mode == "stream")


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_without_tools_none_are_sent(make_client, standin, mode):
    read(make_client(), mode, tools=())

    assert "tools" not in standin.requests[0].body and "tool_choice" not in standin.requests[0].body


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_a_call_without_text_is_a_valid_answer(make_client, standin, mode):
    call = Call("handoff", ARGUMENTS, id="call_0")
    standin.push(Reply(content="", tool_calls=[call], keepalives=3, chunk_size=5))  # arguments in 5-byte pieces

    completion, pieces = read(make_client(), mode)

    assert completion.tool_calls == (ToolCall(id="call_0", name="handoff", arguments=ARGUMENTS),)
    assert (completion.content, completion.finish_reason, pieces) == ("", "tool_calls", [])


def test_streamed_pieces_are_joined_by_their_index_even_interleaved():
    answer = StreamedAnswer("deepseek-chat")
    pieces = [
        {"index": 1, "id": "call_b", "function": {"name": "lookup_order", "arguments": ""}},
        {"index": 0, "id": "call_a", "function": {"name": "handoff", "arguments": '{"rea'}},
        {"index": 1, "function": {"arguments": '{"order_id": '}},
        {"index": 0, "function": {"arguments": 'son": "refund"}'}},
        {"index": 1, "function": {"arguments": '"GG-1"}'}},
    ]
    for piece in pieces:
        answer.add(orjson.dumps({"model": "deepseek-chat", "choices": [{"delta": {"tool_calls": [piece]}}]}))
    answer.add(orjson.dumps({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}))

    assert answer.completion().tool_calls == (
        ToolCall("call_a", "handoff", {"reason": "refund"}),
        ToolCall("call_b", "lookup_order", {"order_id": "GG-1"}),
    )


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_text_written_before_the_calls_is_kept_and_streamed(make_client, standin, mode):
    calls = [Call("handoff", ARGUMENTS, id="call_a"), Call("lookup_order", {"order_id": "GG-10442"}, id="call_b")]
    standin.push(Reply(content="Let me pass you to a colleague.", tool_calls=calls, chunk_size=6))

    completion, pieces = read(make_client(), mode)

    assert completion.content == "Let me pass you to a colleague."
    assert [call.name for call in completion.tool_calls] == ["handoff", "lookup_order"]
    assert completion.tool_calls[1].arguments == {"order_id": "GG-10442"}
    if mode == "stream":
        assert "".join(pieces) == "Let me pass you to a colleague." and len(pieces) > 1


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_empty_arguments_are_an_empty_object(make_client, standin, mode):
    standin.push(Reply(content="", tool_calls=[Call("handoff", "")]))

    completion, _ = read(make_client(), mode)

    assert completion.tool_calls[0].arguments == {}


@pytest.mark.parametrize("mode", ["json", "stream"])
@pytest.mark.parametrize("arguments", ['{"reason": "cut sho', "[1, 2]", '"a string"', "null"])
def test_arguments_that_are_not_a_json_object_are_an_upstream_error(make_client, standin, mode, arguments):
    standin.push(Reply(content="", tool_calls=[Call("handoff", arguments)], chunk_size=4))

    with capture_logs() as logs, pytest.raises(UpstreamError):
        read(make_client(), mode)

    [line] = [line for line in logs if line["event"] == "llm_bad_response"]
    assert (line["reason"], line["tool"], line["arguments_chars"]) == ("tool_arguments", "handoff", len(arguments))
    assert "cut sho" not in str(logs)  # the arguments themselves are never logged
    assert len(standin.requests) == 1  # not retried


@pytest.mark.parametrize("mode", ["json", "stream"])
def test_a_call_without_a_name_is_an_upstream_error(make_client, standin, mode):
    standin.push(Reply(content="", tool_calls=[Call("", ARGUMENTS)]))

    with capture_logs() as logs, pytest.raises(UpstreamError):
        read(make_client(), mode)

    assert [line["reason"] for line in logs if line["event"] == "llm_bad_response"] == ["tool_call_incomplete"]


def test_the_answer_continues_the_conversation_as_an_assistant_message():
    completion = Completion("One moment.", "deepseek-chat", "tool_calls", None,
                            (ToolCall("call_0", "handoff", {"reason": "refund"}),))

    assert completion.message() == {
        "role": "assistant",
        "content": "One moment.",
        "tool_calls": [{"id": "call_0", "type": "function",
                        "function": {"name": "handoff", "arguments": '{"reason":"refund"}'}}],
    }
    assert Completion("Hi.", "deepseek-chat", "stop", None).message() == {"role": "assistant", "content": "Hi."}
