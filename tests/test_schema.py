"""The spec is the truth: schemathesis drives the app from /apispec_1.json and checks every answer.

Valid and invalid requests are generated from the served spec; each answer must be
no 5xx and must match the documented status codes, headers and schemas.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.deepseek_standin import Reply


@pytest.fixture
def api_schema(make_app, standin):
    standin.default = Reply(content="A stand-in answer.")
    yield schemathesis.openapi.from_wsgi("/apispec_1.json", make_app(RATE_LIMITS="100000/minute"))
    standin.default = Reply()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_the_promises_of_its_spec(api_schema, mode):
    @given(case=api_schema.as_strategy(mode))
    @settings(max_examples=75, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call_and_validate(case):
        case.call_and_validate()

    call_and_validate()
