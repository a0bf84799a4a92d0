"""Round trips to PostgreSQL per answer: a bound on the hot path's statements, so a gain cannot silently regress.

An FAQ answer is one statement (its conversation, question and answer written together);
a model's turn is one for the question (committed before DeepSeek is called) and one for
the answer (committed before the response). A continued conversation adds one SELECT: its
owner, state, length and (for the model) its newest turns.
"""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.deepseek_standin import Reply
from tests.support import RoundTrips, chat, empty_tables


@pytest.fixture
def counted(make_app, postgres_url, standin):
    """A client on PostgreSQL, warmed up (the knowledge base loaded), and the engine to count on."""
    empty_tables(postgres_url)
    app = make_app(DATABASE_URL=postgres_url, RATE_LIMITS="1000/minute", KB_REFRESH_SECONDS=3600.0)
    client = app.test_client()
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200
    with app.app_context():
        engine = db.engine
    return client, engine


@pytest.mark.parametrize(("continued", "bound"), [(False, 1), (True, 2)])
def test_an_faq_answer_is_one_statement_after_the_conversation_s_check(counted, continued, bound):
    client, engine = counted
    conversation_id = chat(client, "delivery hours")["conversation_id"] if continued else None

    with RoundTrips(engine) as trips:
        answer = chat(client, "What are your delivery hours?", conversation_id)

    assert answer["source"] == "faq"
    assert trips.count <= bound, trips.statements


@pytest.mark.parametrize(("continued", "bound"), [(False, 2), (True, 3)])
def test_a_model_s_turn_is_one_statement_for_the_question_and_one_for_the_answer(counted, standin, continued, bound):
    client, engine = counted
    conversation_id = chat(client, "delivery hours")["conversation_id"] if continued else None
    standin.push(Reply(content="We stock kale daily."))

    with RoundTrips(engine) as trips:
        answer = chat(client, "Do you sell kale?", conversation_id)

    assert answer["source"] == "llm"
    assert trips.count <= bound, trips.statements
