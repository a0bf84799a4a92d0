"""The support team's reports on SQLite and PostgreSQL: /api/v1/staff/stats, /questions and /export.

A scripted set of conversations goes through HTTP: FAQ answers, DeepSeek answers through
the stand-in, fallbacks, failures, a handoff on the customer's words that an agent claims and
answers, ratings. Conversations of other days are stored with the storage layer.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from app.extensions import db
from app.storage.analytics import EXPORT_BATCH
from app.storage.models import Conversation, Message
from tests.deepseek_standin import Reply
from tests.handoff import WORDS
from tests.staff import add_staff, bearer
from tests.support import chat, error_of

pytestmark = pytest.mark.both_databases

USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
         "prompt_cache_hit_tokens": 600, "prompt_cache_miss_tokens": 400}
RELATED_QUESTION = "the strawberries were moldy"  # DeepSeek down: the closest FAQ answers (faq_fallback)
OLD_DAY = date(2026, 1, 15)


@pytest.fixture
def reports(make_app):
    """An app (no DeepSeek retries), its client, and an admin's and an agent's headers."""
    app = make_app(RATE_LIMITS="1000/minute", DEEPSEEK_MAX_RETRIES=0)
    return app, app.test_client(), bearer(add_staff(app, "Sam", "admin")), bearer(add_staff(app, "Dana"))


def answer_ids(client, conversation_id):
    messages = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"]
    return [m["message_id"] for m in messages if m["role"] in ("assistant", "agent")]


def rate(client, conversation_id, message_id, rating, comment=None):
    path = f"/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback"
    assert client.put(path, json={"rating": rating, "comment": comment}).status_code == 200


def store_conversation(app, created_at, *messages):
    """Store a conversation and its messages (dicts of Message fields) at `created_at`, a second apart."""
    conversation_id = str(uuid.uuid4())
    with app.app_context():
        db.session.add(Conversation(id=conversation_id, created_at=created_at, last_message_at=created_at))
        db.session.flush()
        for number, fields in enumerate(messages):
            moment = created_at + timedelta(seconds=number)
            db.session.add(Message(conversation_id=conversation_id, created_at=moment, **fields))
        db.session.commit()
    return conversation_id


def handed_off(client, agent):
    """A conversation the FAQ answers once, then handed off on the customer's words; Dana claims it and answers."""
    conversation_id = chat(client, "Where can I find the tracking link?")["conversation_id"]
    assert chat(client, WORDS, conversation_id)["source"] == "handoff"
    staff = f"/api/v1/staff/conversations/{conversation_id}"
    assert client.post(f"{staff}/claim", headers=agent).status_code == 200
    assert client.post(f"{staff}/messages", json={"content": "Hi, Dana here."}, headers=agent).status_code == 201
    return conversation_id


def script(client, agent, standin):
    """Have customers ask, get answers, fail and rate; return the conversations' ids by name."""
    a = chat(client, "Where is my order?")["conversation_id"]  # faq, rated up
    standin.push(Reply(content="Yes, we sell kale.", usage=USAGE))
    chat(client, "Do you sell kale?", a)  # llm, rated down
    faq_answer, llm_answer = answer_ids(client, a)
    rate(client, a, faq_answer, "up")
    rate(client, a, llm_answer, "down", "We do not sell kale")
    standin.push(Reply(status=500))
    b = chat(client, RELATED_QUESTION)["conversation_id"]  # faq_fallback
    standin.push(Reply(status=500))
    chat(client, "Do you sell organic kale?", b, status=502)  # failed
    c = handed_off(client, agent)
    rate(client, c, answer_ids(client, c)[-1], "up")  # the agent's message
    standin.push(Reply(status=500))
    chat(client, "Do you rent out bicycles?", status=502)  # failed in a conversation of its own: no bot answer at all
    return {"a": a, "b": b, "c": c}


def handoff_message(client, conversation_id):
    messages = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"]
    return next(m["content"] for m in messages if m["source"] == "handoff")


def around_today():
    today = datetime.now(timezone.utc).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def get(client, path, headers, **query):
    response = client.get(path, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response


# Stats


def test_stats_count_a_scripted_set_of_conversations_exactly(reports, standin):
    _, client, admin, agent = reports
    script(client, agent, standin)

    stats = get(client, "/api/v1/staff/stats", admin, **around_today()).get_json()

    assert (stats["from"], stats["to"]) == (around_today()["from"], around_today()["to"])
    assert {key: stats[key] for key in ("conversations", "customer_messages", "failed_turns")} == {
        "conversations": 4, "customer_messages": 7, "failed_turns": 2,
    }
    assert stats["answers"] == {"faq": 2, "llm": 1, "faq_fallback": 1, "handoff": 1, "agent": 1}
    assert stats["handoffs"] == {"customer_button": 0, "customer_words": 1, "model": 0}
    assert stats["feedback"] == {"up": 2, "down": 1}
    assert stats["tokens"] == {"prompt": 1000, "completion": 200, "cache_hit": 600}
    assert stats["estimated_cost"] == pytest.approx((600 * 0.07 + 400 * 0.27 + 200 * 1.10) / 1e6)
    assert stats["deflection_rate"] == 0.5  # a and b had a bot answer and no handoff; c was handed off, d failed
    assert [day["date"] for day in stats["by_day"]] == [
        (date.fromisoformat(around_today()["from"]) + timedelta(days=n)).isoformat() for n in range(3)
    ]
    assert sum(day["conversations"] for day in stats["by_day"]) == 4
    assert sum(day["answers"]["faq"] for day in stats["by_day"]) == 2
    assert sum(day["feedback"]["down"] for day in stats["by_day"]) == 1


def test_stats_per_day_include_empty_days_and_keep_to_the_period(reports):
    app, client, admin, _ = reports
    moment = datetime.combine(OLD_DAY, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=23, minutes=59, seconds=59)
    store_conversation(
        app, moment,
        {"role": "user", "content": "Do you sell kale?"},
        {"role": "assistant", "content": "Yes.", "source": "llm", "prompt_tokens": 100, "completion_tokens": 50,
         "cache_hit_tokens": 0},  # a second later: the next day
    )

    stats = get(client, "/api/v1/staff/stats", admin, **{"from": "2026-01-14", "to": "2026-01-16"}).get_json()
    alone = get(client, "/api/v1/staff/stats", admin, **{"from": "2026-01-15", "to": "2026-01-15"}).get_json()

    empty, started, answered = stats["by_day"]
    assert (empty["date"], empty["conversations"], empty["deflection_rate"], empty["estimated_cost"]) == (
        "2026-01-14", 0, None, 0.0,
    )
    assert (started["conversations"], started["customer_messages"], started["answers"]["llm"]) == (1, 1, 0)
    assert started["deflection_rate"] == 1.0  # the conversation's day: it got a bot answer
    assert (answered["conversations"], answered["answers"]["llm"], answered["tokens"]["prompt"]) == (0, 1, 100)
    assert answered["estimated_cost"] == pytest.approx((100 * 0.27 + 50 * 1.10) / 1e6)
    assert (alone["conversations"], alone["answers"]["llm"], len(alone["by_day"])) == (1, 0, 1)


def test_the_estimated_cost_follows_the_price_settings(make_app):
    app = make_app(DEEPSEEK_PRICE_INPUT_CACHE_HIT=1.0, DEEPSEEK_PRICE_INPUT_CACHE_MISS=2.0, DEEPSEEK_PRICE_OUTPUT=4.0)
    admin = bearer(add_staff(app, "Sam", "admin"))
    store_conversation(
        app, datetime(2026, 1, 15, 12, tzinfo=timezone.utc),
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "source": "llm", "prompt_tokens": 3_000_000,
         "completion_tokens": 1_000_000, "cache_hit_tokens": 1_000_000},
    )

    stats = get(app.test_client(), "/api/v1/staff/stats", admin, **{"from": "2026-01-15", "to": "2026-01-15"}).get_json()

    assert stats["estimated_cost"] == 1.0 + 2 * 2.0 + 4.0


@pytest.mark.parametrize("setting", ["DEEPSEEK_PRICE_INPUT_CACHE_HIT", "DEEPSEEK_PRICE_INPUT_CACHE_MISS",
                                     "DEEPSEEK_PRICE_OUTPUT"])
def test_a_negative_price_stops_the_app(make_app, setting):
    with pytest.raises(ValueError, match=setting):
        make_app(**{setting: -0.01})


# What went wrong


def test_each_kind_lists_its_questions_with_the_answer_the_comment_and_the_conversation(reports, standin):
    _, client, admin, agent = reports
    ids = script(client, agent, standin)

    def only_group(kind):
        body = get(client, "/api/v1/staff/questions", agent, kind=kind, **around_today()).get_json()
        assert (body["kind"], body["page"], body["pages"], body["total"]) == (kind, 1, 1, len(body["groups"]))
        return body["groups"]

    [down] = only_group("down")
    [example] = down["examples"]
    assert (down["question"], down["count"], down["last_asked_at"]) == ("Do you sell kale?", 1, example["created_at"])
    assert {key: example[key] for key in ("conversation_id", "question", "answer", "source", "rating", "comment")} == {
        "conversation_id": ids["a"], "question": "Do you sell kale?", "answer": "Yes, we sell kale.", "source": "llm",
        "rating": "down", "comment": "We do not sell kale",
    }
    assert example["answer_message_id"] == answer_ids(client, ids["a"])[1]
    assert example["message_id"] == example["answer_message_id"] - 1

    [fallback] = only_group("fallback")
    assert (fallback["question"], fallback["examples"][0]["source"]) == (RELATED_QUESTION, "faq_fallback")

    failed = only_group("failed")
    assert [(g["question"], g["examples"][0]["error_code"], g["examples"][0]["answer"]) for g in failed] == [
        ("Do you rent out bicycles?", "UPSTREAM_ERROR", None), ("Do you sell organic kale?", "UPSTREAM_ERROR", None),
    ]

    [handoff] = only_group("handoff")
    [example] = handoff["examples"]
    assert (handoff["question"], handoff["count"]) == (WORDS, 1)
    assert (example["answer"], example["source"], example["conversation_id"]) == (
        handoff_message(client, ids["c"]), "handoff", ids["c"],
    )


def test_the_same_question_in_other_words_counts_once(reports, standin):
    _, client, _, agent = reports
    for question in ("Where is my order?", "where's my order??", "Where is my parcel?", "WHERE IS MY ORDER",
                     "Do you sell kale?"):
        if "kale" in question:
            standin.push(Reply(content="Maybe."))
        conversation_id = chat(client, question)["conversation_id"]
        rate(client, conversation_id, answer_ids(client, conversation_id)[0], "down", question[::-1])

    body = get(client, "/api/v1/staff/questions", agent, kind="down").get_json()

    assert body["total"] == 2
    orders, kale = body["groups"]
    assert (orders["count"], kale["count"], kale["question"]) == (4, 1, "Do you sell kale?")
    assert orders["question"] == "WHERE IS MY ORDER"  # the most asked phrasing (any case), newest first on a tie
    assert [e["question"] for e in orders["examples"]] == [
        "WHERE IS MY ORDER", "Where is my parcel?", "where's my order??", "Where is my order?",
    ]
    assert orders["examples"][1]["comment"] == "?lecrap ym si erehW"
    assert get(client, "/api/v1/staff/questions", agent, kind="down", page=2).get_json()["groups"] == []


def test_questions_outside_the_period_are_left_out(reports):
    app, client, _, agent = reports
    store_conversation(
        app, datetime(2026, 1, 15, 12, tzinfo=timezone.utc),
        {"role": "user", "content": "Do you rent out bicycles?", "error_code": "UPSTREAM_ERROR"},
    )

    inside = get(client, "/api/v1/staff/questions", agent, kind="failed", **{"from": "2026-01-15", "to": "2026-01-15"})
    before = get(client, "/api/v1/staff/questions", agent, kind="failed", **{"from": "2026-01-14", "to": "2026-01-14"})
    default = get(client, "/api/v1/staff/questions", agent, kind="failed")  # the last 30 days

    assert inside.get_json()["total"] == 1
    assert before.get_json()["total"] == default.get_json()["total"] == 0


# Export


def test_the_export_streams_one_json_line_per_conversation(reports, standin):
    _, client, admin, agent = reports
    ids = script(client, agent, standin)

    response = get(client, "/api/v1/staff/export", admin, format="jsonl", **around_today())

    assert response.is_streamed and response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="conversations-{around_today()["from"]}-{around_today()["to"]}.jsonl"'
    )
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["conversation_id"] for line in lines[:3]] == [ids["a"], ids["b"], ids["c"]] and len(lines) == 4
    a, b, c, d = lines
    assert [(m["role"], m["source"]) for m in a["messages"]] == [
        ("user", None), ("assistant", "faq"), ("user", None), ("assistant", "llm"),
    ]
    assert [m["feedback"] for m in a["messages"]][1::2] == [
        {"rating": "up", "comment": None}, {"rating": "down", "comment": "We do not sell kale"},
    ]
    assert (a["feedback"], a["tokens"]) == ({"up": 1, "down": 1}, {"prompt": 1000, "completion": 200, "cache_hit": 600})
    assert b["messages"][2]["error_code"] == "UPSTREAM_ERROR"
    assert [(h["trigger"]) for h in c["handoffs"]] == ["customer_words"]
    assert [(m["event"], m["state"]) for m in c["messages"] if m["role"] == "event"] == [
        ("handoff", "waiting"), ("claimed", "agent"),
    ]
    assert c["messages"][-1]["author"] == "Dana" and c["messages"][-1]["feedback"]["rating"] == "up"
    assert (d["state"], d["handoffs"], len(d["messages"])) == ("bot", [], 1)


def test_the_export_as_csv_is_one_row_per_message_with_formulas_defused(reports, standin):
    _, client, admin, agent = reports
    ids = script(client, agent, standin)
    standin.push(Reply(content="-1 is not an order number."))
    formula = chat(client, "=HYPERLINK(\"http://evil\")")["conversation_id"]

    response = get(client, "/api/v1/staff/export", admin, format="csv", **around_today())

    assert response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 4 + 3 + 7 + 1 + 2  # a, b, c, the failed one, the formula
    assert [row["conversation_id"] for row in rows[:4]] == [ids["a"]] * 4
    assert (rows[3]["source"], rows[3]["prompt_tokens"], rows[3]["rating"], rows[3]["rating_comment"]) == (
        "llm", "1000", "down", "We do not sell kale",
    )
    assert [row["content"] for row in rows if row["conversation_id"] == formula] == [
        "'=HYPERLINK(\"http://evil\")", "'-1 is not an order number.",
    ]


def test_the_export_reads_conversations_a_batch_at_a_time_and_keeps_to_the_period(reports):
    app, client, admin, _ = reports
    start = datetime(2026, 1, 15, tzinfo=timezone.utc)
    stored = [
        store_conversation(app, start + timedelta(seconds=n), {"role": "user", "content": f"question {n}"})
        for n in range(EXPORT_BATCH * 2 + 5)
    ]
    store_conversation(app, start - timedelta(seconds=1), {"role": "user", "content": "the day before"})

    response = get(client, "/api/v1/staff/export", admin, **{"from": "2026-01-15", "to": "2026-01-15"})

    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["conversation_id"] for line in lines] == stored
    assert [line["messages"][0]["content"] for line in lines[-2:]] == [
        f"question {EXPORT_BATCH * 2 + 3}", f"question {EXPORT_BATCH * 2 + 4}",
    ]


# Refusals


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/staff/questions", {}, "kind"),
        ("/api/v1/staff/questions", {"kind": "bad"}, "kind"),
        ("/api/v1/staff/questions", {"kind": "down", "page": "0"}, "page"),
        ("/api/v1/staff/questions", {"kind": "down", "page": "x"}, "page"),
        ("/api/v1/staff/stats", {"from": "2026-13-01"}, "from"),
        ("/api/v1/staff/stats", {"from": "2026-1-1"}, "from"),
        ("/api/v1/staff/stats", {"to": "yesterday"}, "to"),
        ("/api/v1/staff/stats", {"to": "0001-01-01"}, "to"),
        ("/api/v1/staff/stats", {"to": "9999-12-31"}, "to"),
        ("/api/v1/staff/stats", {"from": "2026-02-01", "to": "2026-01-31"}, "from"),
        ("/api/v1/staff/stats", {"from": "2025-01-01", "to": "2026-01-02"}, "from"),
        ("/api/v1/staff/export", {"format": "xlsx"}, "format"),
        ("/api/v1/staff/export", {"from": "2026-02-30"}, "from"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(reports, path, query, field):
    _, client, admin, _ = reports

    response = client.get(path, headers=admin, query_string=query)

    assert error_of(response) == (400, "INVALID_REQUEST")
    assert f'"{field}"' in response.get_json()["error"]["message"]


def test_a_period_of_366_days_is_the_longest(reports):
    _, client, admin, _ = reports

    stats = get(client, "/api/v1/staff/stats", admin, **{"from": "2024-01-01", "to": "2024-12-31"}).get_json()

    assert len(stats["by_day"]) == 366 and stats["conversations"] == 0 and stats["deflection_rate"] is None


@pytest.mark.parametrize("path", ["/api/v1/staff/questions?kind=down", "/api/v1/staff/stats", "/api/v1/staff/export"])
def test_staff_only_and_admins_only(reports, path):
    _, client, _, agent = reports

    assert error_of(client.get(path)) == (401, "UNAUTHORIZED")
    assert error_of(client.get(path, headers=bearer("not-a-token"))) == (401, "UNAUTHORIZED")
    if "questions" in path:
        assert client.get(path, headers=agent).status_code == 200
    else:
        assert error_of(client.get(path, headers=agent)) == (403, "FORBIDDEN")


def test_an_agents_answer_rated_down_is_listed_with_source_agent(reports):
    _, client, _, agent = reports
    conversation_id = handed_off(client, agent)
    rate(client, conversation_id, answer_ids(client, conversation_id)[-1], "down", "Too slow")

    [group] = get(client, "/api/v1/staff/questions", agent, kind="down").get_json()["groups"]

    [example] = group["examples"]
    assert (group["question"], example["answer"], example["source"], example["comment"]) == (
        WORDS, "Hi, Dana here.", "agent", "Too slow",
    )
