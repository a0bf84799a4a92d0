"""The spec is the truth: schemathesis drives every operation of /apispec_1.json and checks every answer.

Valid and invalid requests are generated from the served spec for each operation in
turn, then hostile ones (unpaired surrogates, NUL and other control characters in any
string, bodies nested thousands of levels deep); each answer must be no 5xx and must
match the documented status codes, headers and schemas.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.deepseek_standin import Reply
from tests.fuzz import hostile_text

pytestmark = pytest.mark.slow  # hypothesis generates hundreds of requests
EXAMPLES = 25  # per operation and mode
DEEP = 3000
# Text no client should send but any client can: what the body reader must refuse or clean.
HOSTILE_TEXT = ["\ud800", "\udc00\ud800", "caf\udc00e", "hello\x00world", "\x00", "\x1b[31m\x7f\x9b", "a\r\nb\rc"]
HOSTILE_PATH_TEXT = ["\x00", "a\x00b", "\x1b[31m", "\x7f\x9b", "\ufffd"]  # a URL cannot carry a lone surrogate
HOSTILE_RAW_BODIES = {
    "deep objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep arrays in a field": b'{"message": "hi", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "deep top-level array": b"[" * DEEP + b"]" * DEEP,
    "unclosed deep array": b"[" * DEEP,
    "unpaired surrogates": b'{"message": "\\ud800", "conversation_id": "\\udc00\\ud800"}',
    "a surrogate encoded in UTF-8": b'{"message": "\xed\xa0\x80"}',  # not UTF-8
}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def api_schema(make_app, standin):
    standin.default = Reply(content="A stand-in answer.")
    yield schemathesis.openapi.from_wsgi("/apispec_1.json", make_app(RATE_LIMITS="100000/minute"))
    standin.default = Reply()


def operations(api_schema):
    """Return every operation of the spec."""
    return [result.ok() for result in api_schema.get_all_operations()]


def has_inputs(operation) -> bool:
    """Return whether an operation takes anything a client could get wrong (negative cases need one)."""
    return bool(operation.body or operation.path_parameters or operation.query or operation.headers)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_keeps_the_promises_of_its_spec(api_schema, mode):
    every = operations(api_schema)
    fuzzed = every if mode is GenerationMode.POSITIVE else [op for op in every if has_inputs(op)]
    called: Counter[str] = Counter()
    for operation in fuzzed:

        @given(case=operation.as_strategy(mode))
        @SETTINGS
        def call_and_validate(case):
            case.call_and_validate()
            called[operation.label] += 1

        call_and_validate()

    assert set(called) == {operation.label for operation in fuzzed}
    assert {"POST /api/v1/chat", "GET /api/v1/conversations/{conversation_id}"} <= set(called)


def with_hostile_text(operation, case, text: str):
    """Return the case with hostile text in every string of its body (keys too) or in its path parameters."""
    body = case.body
    if isinstance(body, dict):
        body = {key: text if isinstance(value, str) else value for key, value in body.items()} | {text: text}
    path_parameters = {name: text for name in case.path_parameters or {}}
    # A new case, not the generated one edited: schemathesis would re-check it against the schema.
    return operation.Case(body=body, media_type=case.media_type, path_parameters=path_parameters)


def test_hostile_text_in_any_string_is_refused_or_cleaned_never_a_server_error(api_schema):
    with_strings = [operation for operation in operations(api_schema) if operation.body or operation.path_parameters]
    called: Counter[str] = Counter()
    for operation in with_strings:
        texts = HOSTILE_PATH_TEXT if operation.path_parameters else HOSTILE_TEXT
        # No "?" or "#" around it: schemathesis puts path parameters in the URL unescaped, and werkzeug's
        # test client then refuses the request itself (a query string in the path and as an argument),
        # or cuts the path at "#" (a fragment), sending .../conversations/<id>/claim to .../<id>'s route.
        around = st.text(max_size=3).map(lambda text: text.replace("?", "").replace("#", ""))
        hostile = hostile_text(texts, around)

        @given(case=operation.as_strategy(GenerationMode.POSITIVE), text=hostile)
        @SETTINGS
        def call_and_validate(case, text):
            with_hostile_text(operation, case, text).call_and_validate()
            called[operation.label] += 1

        call_and_validate()

    assert set(called) == {operation.label for operation in with_strings}
    assert {"POST /api/v1/chat", "DELETE /api/v1/conversations/{conversation_id}"} <= set(called)


@pytest.mark.parametrize("raw_body", HOSTILE_RAW_BODIES.values(), ids=HOSTILE_RAW_BODIES.keys())
def test_hostile_bodies_sent_to_every_operation_are_never_a_server_error(api_schema, raw_body):
    for operation in operations(api_schema):
        path_parameters = {parameter.name: str(uuid.uuid4()) for parameter in operation.path_parameters}
        case = operation.Case(body=raw_body, media_type="application/json", path_parameters=path_parameters)

        response = case.call_and_validate()

        assert response.status_code < 500, operation.label
        if operation.body:  # an operation that reads a body refuses these
            assert 400 <= response.status_code < 500, operation.label
