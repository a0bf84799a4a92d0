"""Frequently asked questions, answered without calling the language model.

`FaqIndex.match()` is the one interface the chat service uses for a direct answer;
`search()` ranks entries (grounding, the CLI) and `fallback()` looks with a lower bar
when the model cannot answer. Matching is by meaning, not exact words: each phrasing
and the question become terms (`faq_text.Analyzer`: typos corrected, phrases folded
into the knowledge base's concepts, other words stemmed), weighted by how rare they
are across entries (IDF), and compared by cosine similarity; an entry scores as its
closest phrasing. Words the index has never seen still count in the question's length,
so a question that only mentions an FAQ's words in passing scores low. A phrasing is a
candidate only when the question shares one of its topics (`Analyzer.topics`: its
concepts such as delivery or refund, not an aspect such as a price or "free", nor an
incidental word such as "use" or "take"): "how much is it" or "can i use it" names no
topic, so in a conversation it is about what came before, which the model sees and the
FAQ does not. docs/knowledge-base.md has the evaluation behind the method and the
thresholds.

The index is built once and only read afterwards, so one instance serves every thread.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.services.faq_text import Analyzer, Concept, vocabulary_of

# Chosen on the dev half of tests/data/faq_eval.json by `python -m bench.faq_compare`
# (docs/knowledge-base.md, "Evaluation"): the direct answer favours precision, since a question
# the FAQ misses still gets a model answer grounded in the related entries.
MATCH_THRESHOLD = 0.46  # answer from the FAQ without calling the model
RELATED_THRESHOLD = 0.40  # ground the model with the entry, or answer with it when the model is down
MIN_MARGIN = 0.01  # two entries that fit (nearly) equally well: let the model weigh both as store facts


@dataclass(frozen=True)
class FaqEntry:
    """One frequently asked question: the ways customers ask it and its answer."""

    id: str
    phrasings: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnowledgeBase:
    """What the FAQ index is built from: the entries and the concepts their words fold into."""

    entries: tuple[FaqEntry, ...]
    concepts: tuple[Concept, ...] = ()


@dataclass(frozen=True)
class FaqMatch:
    """The FAQ that answers a question, and how sure the match is (0..1)."""

    entry: FaqEntry
    score: float


class FaqIndex:
    """Answer a question from the FAQ entry whose phrasings mean the same thing."""

    def __init__(
        self,
        entries: Iterable[FaqEntry],
        concepts: Iterable[Concept] = (),
        *,
        match_threshold: float = MATCH_THRESHOLD,
        related_threshold: float = RELATED_THRESHOLD,
    ) -> None:
        """Index the entries, their words folded into the concepts (none: words and their stems only)."""
        self.entries = tuple(entries)
        self.concepts = tuple(concepts)
        self.match_threshold = match_threshold
        self.related_threshold = related_threshold
        self.analyzer = Analyzer(vocabulary_of(p for entry in self.entries for p in entry.phrasings), self.concepts)
        phrasing_terms = [
            (number, frozenset(self.analyzer.terms(phrasing)))
            for number, entry in enumerate(self.entries)
            for phrasing in entry.phrasings
        ]
        self._idf = inverse_entry_frequencies(phrasing_terms, len(self.entries))
        self._unseen_idf = math.log(1 + len(self.entries)) + 1  # as rare as a term can be
        self._entry_of = tuple(number for number, _ in phrasing_terms)
        postings: dict[str, list[tuple[int, float, bool]]] = {}
        for phrasing, (_, terms) in enumerate(phrasing_terms):
            topics = self.analyzer.topics(terms)
            for term, weight in unit_vector(terms, self._idf, self._unseen_idf).items():
                postings.setdefault(term, []).append((phrasing, weight, term in topics))
        self._postings = {term: tuple(pairs) for term, pairs in postings.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, question: str) -> FaqMatch | None:
        """Return the FAQ that answers the question, or None when the model should answer."""
        best = self.search(question, limit=2)
        if not best or best[0].score < self.match_threshold:
            return None
        if len(best) == 2 and best[0].score - best[1].score < MIN_MARGIN:
            return None
        return best[0]

    def fallback(self, question: str) -> FaqMatch | None:
        """Return the closest FAQ above the lower, related bar, for when the model cannot answer."""
        best = self.search(question, limit=1)
        return best[0] if best and best[0].score >= self.related_threshold else None

    def related(self, question: str, limit: int = 3) -> list[FaqMatch]:
        """Return up to `limit` FAQs related to the question, best first, to ground the model."""
        return [found for found in self.search(question, limit) if found.score >= self.related_threshold]

    def search(self, question: str, limit: int = 5) -> list[FaqMatch]:
        """Return the `limit` best-scoring FAQs for the question, best first (scores may be 0)."""
        scores = self._entry_scores(question)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [FaqMatch(self.entries[number], round(score, 4)) for number, score in ranked]

    def _entry_scores(self, question: str) -> dict[int, float]:
        """Return each candidate entry's score: the cosine similarity of its closest phrasing
        among those that share one of their topics with the question."""
        query = unit_vector(set(self.analyzer.terms(question)), self._idf, self._unseen_idf)
        similarity: dict[int, float] = {}
        on_topic: set[int] = set()
        for term, weight in query.items():
            for phrasing, phrasing_weight, topical in self._postings.get(term, ()):
                similarity[phrasing] = similarity.get(phrasing, 0.0) + weight * phrasing_weight
                if topical:
                    on_topic.add(phrasing)
        scores: dict[int, float] = {}
        for phrasing in on_topic:
            entry, score = self._entry_of[phrasing], similarity[phrasing]
            if score > scores.get(entry, 0.0):
                scores[entry] = min(score, 1.0)
        return scores


def inverse_entry_frequencies(phrasing_terms: list[tuple[int, frozenset[str]]], entry_count: int) -> dict[str, float]:
    """Return each term's smoothed IDF, counting the entries (not the phrasings) that use it."""
    entry_terms: dict[int, set[str]] = {}
    for number, terms in phrasing_terms:
        entry_terms.setdefault(number, set()).update(terms)
    frequency = Counter(term for terms in entry_terms.values() for term in terms)
    return {term: math.log((1 + entry_count) / (1 + count)) + 1 for term, count in frequency.items()}


def unit_vector(terms: Iterable[str], idf: Mapping[str, float], unseen_idf: float) -> dict[str, float]:
    """Return the terms weighted by IDF and scaled to length 1; unseen terms weigh the most."""
    weights = {term: idf.get(term, unseen_idf) for term in terms}
    norm = math.sqrt(sum(weight * weight for weight in weights.values()))
    return {term: weight / norm for term, weight in weights.items()} if norm else {}
