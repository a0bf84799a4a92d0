"""Frequently asked questions, answered without calling the language model.

`FaqIndex.match()` is the one interface the chat service uses; the matching behind
it can change (a knowledge base, matching by meaning) without touching the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FaqEntry:
    """One frequently asked question: the phrases that identify it and its answer."""

    id: str
    phrases: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class FaqMatch:
    """The FAQ that answers a question, and how sure the match is (0..1)."""

    entry: FaqEntry
    score: float


DEFAULT_FAQ = (
    FaqEntry(
        id="delivery-hours",
        phrases=("delivery hours", "delivery time", "when do you deliver"),
        answer=(
            "Our delivery hours are 8 AM to 8 PM EST, Monday through Saturday, and 10 AM to 6 PM EST on Sunday. "
            "Orders placed before 2 PM EST are delivered the same day."
        ),
    ),
    FaqEntry(
        id="order-status",
        phrases=("order status", "track my order", "where is my order"),
        answer=(
            "You can check your order status under 'My Orders' in your GreenGrocer account or with the tracking "
            "link in your confirmation e-mail. Statuses update in real time from packing to delivery."
        ),
    ),
)


class FaqIndex:
    """Answer a question from the FAQ when one of an entry's phrases appears in it."""

    def __init__(self, entries: Iterable[FaqEntry] = DEFAULT_FAQ) -> None:
        self.entries = tuple(entries)

    def match(self, question: str) -> FaqMatch | None:
        """Return the FAQ that answers the question, or None when the model should answer."""
        text = " ".join(question.lower().split())
        for entry in self.entries:
            if any(phrase in text for phrase in entry.phrases):
                return FaqMatch(entry, 1.0)
        return None
