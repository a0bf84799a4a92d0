"""The handoff routes keep the promises of the spec when an agent (or a customer) sends anything at all.

tests/test_schema.py fuzzes every operation without a staff token and with unknown
conversations; here schemathesis drives the handoff operations with an agent's token on
real conversations (waiting, held by the agent, answered by the bot): generated valid and
invalid bodies and queries, then hostile text in every string. Every answer must be
documented and none a 5xx. The two event streams are left out: a valid one never ends.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fuzz import call_every_operation, hostile_text, without_surrogates
from tests.handoff import handed_off, new_conversation, staff_call
from tests.staff import add_staff, bearer

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and mode
HOSTILE_TEXT = ["\ud800", "caf\udc00e", "hello\x00world", "\x00", "\x1b[31m\x7f\x9b", "a\r\nb\rc"]
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
HANDOFF_PATHS = (
    "/api/v1/staff/queue", "/api/v1/staff/conversations", "/api/v1/conversations/{conversation_id}/handoff",
)


@pytest.fixture
def handoff_operations(make_app, standin):
    """The handoff operations of the served spec, an agent's headers, and real conversations to aim them at."""
    app = make_app(RATE_LIMITS="100000/minute", STAFF_RATE_LIMITS="100000/minute",
                   STAFF_AUTH_FAILURE_LIMITS="100000/minute")
    client = app.test_client()
    token = add_staff(app, "Dana")
    held = handed_off(client)
    staff_call(client, "POST", f"/conversations/{held}/claim", token)
    conversations = [handed_off(client), held, new_conversation(client)]
    schema = schemathesis.openapi.from_wsgi("/apispec_1.json", app)
    schema.config.generation.update(allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [operation for operation in operations
              if operation.path.startswith(HANDOFF_PATHS) and not operation.path.endswith("/events")]
    return chosen, bearer(token), conversations


def aimed(operation, case, conversation_id, **changes):
    """Return the case aimed at a real conversation (when its path names one)."""
    path_parameters = dict(case.path_parameters or {})
    if "conversation_id" in path_parameters:
        path_parameters["conversation_id"] = conversation_id
    fields = dict(body=case.body, media_type=case.media_type, query=case.query, path_parameters=path_parameters)
    return operation.Case(**{**fields, **changes})


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_handoff_operation_answers_an_agent_as_documented(handoff_operations, mode):
    operations, agent, conversations = handoff_operations
    aim = aimed if mode is GenerationMode.POSITIVE else (lambda operation, case, target: case)

    called = call_every_operation(operations, mode, agent, SETTINGS, st.sampled_from(conversations), aim)

    assert called == {operation.label for operation in operations}
    assert len(called) == 7


def test_hostile_text_in_any_string_is_refused_or_cleaned(handoff_operations):
    operations, agent, conversations = handoff_operations

    def with_hostile_text(operation, case, target):
        conversation_id, text = target
        body = case.body
        if isinstance(body, dict):
            body = {key: text if isinstance(value, str) else value for key, value in body.items()}
        query = {name: without_surrogates(text) for name in case.query or {}}
        return aimed(operation, case, conversation_id, body=body, query=query)

    targets = st.tuples(st.sampled_from(conversations), hostile_text(HOSTILE_TEXT))
    called = call_every_operation(operations, GenerationMode.POSITIVE, agent, SETTINGS, targets, with_hostile_text)

    assert called == {operation.label for operation in operations}
