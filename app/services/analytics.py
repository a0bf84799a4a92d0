"""The support team's numbers and lists: exact counts per UTC day, and the customer questions that went wrong.

Stats are counted by the database (app/storage/analytics.py), per day, and summed here;
their definitions are in docs/support-team.md. The questions that went wrong are grouped
with the FAQ's own text analysis: each question becomes its terms (concepts and stems,
typos corrected, stopwords out: app/services/faq_text.py), and a question joins a group
when its sorted terms are at least GROUPING_THRESHOLD similar to the group's first
question's (rapidfuzz's token_sort_ratio), so "Where's my order??" and "where is my
order" count once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from rapidfuzz import fuzz, process

from app.services.faq_text import Analyzer, words_of
from app.services.knowledge_base import KnowledgeBaseService
from app.storage.analytics import AnalyticsStore, Period
from app.utils.timestamps import iso

ANSWER_SOURCES = ("faq", "llm", "faq_fallback", "handoff")  # answers by source; `agent` counts agents' messages
HANDOFF_TRIGGERS = ("customer_button", "customer_words", "model")
QUESTION_KINDS = ("down", "handoff", "fallback", "failed")
GROUPS_PER_PAGE = 20
EXAMPLES_PER_GROUP = 5
GROUPING_THRESHOLD = 85.0  # token_sort_ratio (0 to 100) of two questions' sorted terms to count as the same question
QUESTIONS_SCANNED = 2000  # the newest questions of a kind in the period that are grouped


@dataclass(frozen=True)
class Prices:
    """DeepSeek's prices in USD per million tokens: input on a cache hit, input on a miss, and output."""

    input_cache_hit: float
    input_cache_miss: float
    output: float

    def cost(self, prompt: int, completion: int, cache_hit: int) -> float:
        """Return what the tokens cost in USD: cache hits, the rest of the prompt, and the completion."""
        dollars = cache_hit * self.input_cache_hit + max(prompt - cache_hit, 0) * self.input_cache_miss
        return round((dollars + completion * self.output) / 1_000_000, 6)


def period_of(first_day: date, last_day: date) -> Period:
    """Return the UTC instants of whole days, from the first day's midnight to the midnight after the last."""
    start = datetime.combine(first_day, time.min, tzinfo=timezone.utc)
    return Period(start, datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=timezone.utc))


def days_of(first_day: date, last_day: date) -> list[str]:
    """Return every day from the first to the last, as YYYY-MM-DD."""
    return [(first_day + timedelta(days=n)).isoformat() for n in range((last_day - first_day).days + 1)]


class AnalyticsService:
    """Count what happened in a period, and list the questions that went wrong, grouped."""

    def __init__(self, store: AnalyticsStore, knowledge: KnowledgeBaseService, prices: Prices) -> None:
        self.store = store
        self.knowledge = knowledge
        self.prices = prices

    def stats(self, first_day: date, last_day: date) -> dict[str, Any]:
        """Return the period's counts, and the same for every day of it (days without anything included)."""
        period = period_of(first_day, last_day)
        days = {day: blank_counts() for day in days_of(first_day, last_day)}
        for row in self.store.conversations_by_day(period):
            days[row.day]["conversations"] += row.conversations
            days[row.day]["deflected"] += int(row.deflected or 0)
        for row in self.store.messages_by_day(period):
            add_messages(days[row.day], row)
        for row in self.store.feedback_by_day(period):
            days[row.day]["feedback"][row.rating] += row.ratings
        total = blank_counts()
        for counts in days.values():
            add_counts(total, counts)
        by_day = [{"date": day, **self.finish(counts)} for day, counts in days.items()]
        return {"from": first_day.isoformat(), "to": last_day.isoformat(), **self.finish(total), "by_day": by_day}

    def finish(self, counts: dict[str, Any]) -> dict[str, Any]:
        """Add the estimated cost and the deflection rate to counts; drop the working figures."""
        tokens = counts["tokens"]
        deflected = counts.pop("deflected")
        return {
            **counts,
            "estimated_cost": self.prices.cost(tokens["prompt"], tokens["completion"], tokens["cache_hit"]),
            "deflection_rate": round(deflected / counts["conversations"], 4) if counts["conversations"] else None,
        }

    def questions(self, kind: str, first_day: date, last_day: date, page: int) -> dict[str, Any]:
        """Return a page of the period's questions of a kind, grouped (the largest group first), with examples."""
        rows = unique_questions(self.store.questions(kind, period_of(first_day, last_day), QUESTIONS_SCANNED))
        groups = group_questions(rows, self.knowledge.current().index.analyzer)
        groups.sort(key=lambda group: (-len(group), -group[0].message_id))
        shown = groups[(page - 1) * GROUPS_PER_PAGE: page * GROUPS_PER_PAGE]
        return {
            "kind": kind,
            "from": first_day.isoformat(),
            "to": last_day.isoformat(),
            "page": page,
            "pages": math.ceil(len(groups) / GROUPS_PER_PAGE),
            "total": len(groups),
            "groups": [group_json(group) for group in shown],
        }


def blank_counts() -> dict[str, Any]:
    """Return the counts of a period where nothing happened."""
    return {
        "conversations": 0,
        "customer_messages": 0,
        "answers": {source: 0 for source in (*ANSWER_SOURCES, "agent")},
        "handoffs": {trigger: 0 for trigger in HANDOFF_TRIGGERS},
        "feedback": {"up": 0, "down": 0},
        "failed_turns": 0,
        "tokens": {"prompt": 0, "completion": 0, "cache_hit": 0},
        "deflected": 0,
    }


def add_messages(counts: dict[str, Any], row: Any) -> None:
    """Count a day's messages of one kind (role, source, event, trigger): questions, failures, answers, handoffs."""
    if row.role == "user":
        counts["customer_messages"] += row.messages
        counts["failed_turns"] += row.failed
    elif row.role == "assistant" and row.source in ANSWER_SOURCES and not row.interrupted:
        counts["answers"][row.source] += row.messages
    elif row.role == "agent":
        counts["answers"]["agent"] += row.messages
    elif row.role == "event" and row.event == "handoff":
        trigger = row.trigger or "unknown"
        counts["handoffs"][trigger] = counts["handoffs"].get(trigger, 0) + row.messages
    tokens = counts["tokens"]
    tokens["prompt"] += int(row.prompt_tokens)
    tokens["completion"] += int(row.completion_tokens)
    tokens["cache_hit"] += int(row.cache_hit_tokens)


def add_counts(total: dict[str, Any], counts: dict[str, Any]) -> None:
    """Add one day's counts to a total, nested counts too."""
    for name, value in counts.items():
        if isinstance(value, dict):
            for key, number in value.items():
                total[name][key] = total[name].get(key, 0) + number
        else:
            total[name] += value


def unique_questions(rows: Iterable[Any]) -> list[Any]:
    """Keep one row per question, newest question first: the first with an answer, else the first."""
    kept: dict[int, Any] = {}
    for row in rows:
        if row.message_id not in kept or (kept[row.message_id].answer_message_id is None and row.answer_message_id):
            kept[row.message_id] = row
    return list(kept.values())


def group_questions(rows: list[Any], analyzer: Analyzer) -> list[list[Any]]:
    """Group questions asked in different words: same terms, or terms at least GROUPING_THRESHOLD similar."""
    keys: list[str] = []
    groups: list[list[Any]] = []
    by_key: dict[str, int] = {}  # the same terms: the same group, without comparing
    for row in rows:
        key = question_key(row.question, analyzer)
        number = by_key.get(key)
        if number is None:
            found = process.extractOne(key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=GROUPING_THRESHOLD)
            number = found[2] if found is not None else len(groups)
            if found is None:
                keys.append(key)
                groups.append([])
            by_key[key] = number
        groups[number].append(row)
    return groups


def question_key(text: str, analyzer: Analyzer) -> str:
    """Return what a question is about as its sorted distinct terms (its plain words when it has no terms)."""
    terms = sorted(set(analyzer.terms(text)))
    return " ".join(terms) if terms else " ".join(words_of(text))


def group_json(group: list[Any]) -> dict[str, Any]:
    """Write a group: its most frequent phrasing (the newest on a tie), its size, last time and newest examples."""
    phrasings = [" ".join(row.question.split()).casefold() for row in group]
    most_asked = Counter(phrasings).most_common(1)[0][0]
    question = group[phrasings.index(most_asked)].question
    return {
        "question": question,
        "count": len(group),
        "last_asked_at": iso(group[0].created_at),
        "examples": [example_json(row) for row in group[:EXAMPLES_PER_GROUP]],
    }


def example_json(row: Any) -> dict[str, Any]:
    """Write one question with the answer it got, the rating's comment, its conversation and time."""
    return {
        "message_id": row.message_id,
        "conversation_id": row.conversation_id,
        "question": row.question,
        "answer": row.answer,
        "answer_message_id": row.answer_message_id,
        "source": row.source if row.answer_role == "assistant" else row.answer_role,
        "rating": row.rating,
        "comment": row.comment,
        "error_code": row.error_code,
        "created_at": iso(row.created_at),
    }
