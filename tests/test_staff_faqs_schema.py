"""The staff routes keep the promises of the spec when an admin sends anything.

tests/test_schema.py fuzzes every operation without a staff token (so every staff route
answers 401); here schemathesis drives the /api/v1/staff/faqs operations, those of
/questions, /stats and /export, and /me, /accounts and /webhooks/failed with an admin's
token (tests/test_handoff_schema.py drives the handoff routes with an agent's): generated valid and invalid bodies,
queries and ids, then hostile text in every string. Every answer must be documented and
none a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fuzz import call_every_operation, hostile_text, without_surrogates
from tests.staff import add_staff, bearer

pytestmark = pytest.mark.slow

EXAMPLES = 40  # per operation and mode
HOSTILE_TEXT = ["\ud800", "caf\udc00e", "hello\x00world", "\x00", "\x1b[31m\x7f\x9b", "a\r\nb\rc", "%_\\"]
# The operations fuzzed together: their paths' starts, how many operations they are, and the checks left out.
# A period's rules across two parameters (`from` not after `to`, at most 366 days) are beyond what OpenAPI can
# say: a 400 for a period made of two valid dates is documented, not a schema-valid request wrongly refused.
FAMILIES = {
    "faqs": (("/api/v1/staff/faqs",), 5, []),
    "accounts and webhooks": (("/api/v1/staff/me", "/api/v1/staff/accounts", "/api/v1/staff/webhooks"), 4, []),
    "reports": (("/api/v1/staff/questions", "/api/v1/staff/stats", "/api/v1/staff/export"), 3,
                [positive_data_acceptance]),
}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(params=list(FAMILIES))
def faq_operations(request, make_app):
    """A family of staff operations of the served spec, how many there are, and an admin's headers."""
    app = make_app(STAFF_RATE_LIMITS="100000/minute", STAFF_AUTH_FAILURE_LIMITS="100000/minute")
    admin = bearer(add_staff(app, "Sam", "admin"))
    schema = schemathesis.openapi.from_wsgi("/apispec_1.json", app)
    # A query parameter the route does not know is ignored, as HTTP APIs do, not refused.
    schema.config.generation.update(allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    starts, count, excluded = FAMILIES[request.param]
    return [operation for operation in operations if operation.path.startswith(starts)], count, excluded, admin


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_faq_operation_answers_an_admin_as_documented(faq_operations, mode):
    operations, count, excluded, admin = faq_operations

    called = call_every_operation(operations, mode, admin, SETTINGS, excluded_checks=excluded)

    assert called == {operation.label for operation in operations}
    assert len(called) == count


def test_hostile_text_in_any_string_is_refused_or_cleaned(faq_operations):
    operations, _, excluded, admin = faq_operations

    def with_hostile_text(operation, case, text):
        body = case.body
        if isinstance(body, dict):
            body = {key: [text] if isinstance(value, list) else text if isinstance(value, str) else value
                    for key, value in body.items()}
        query = {name: without_surrogates(text) for name in case.query or {}}
        return operation.Case(body=body, media_type=case.media_type, query=query, path_parameters=case.path_parameters)

    called = call_every_operation(operations, GenerationMode.POSITIVE, admin, SETTINGS, hostile_text(HOSTILE_TEXT),
                                  with_hostile_text, excluded_checks=excluded)

    assert called == {operation.label for operation in operations}
