"""Compare FAQ matching methods on the labelled evaluation set: precision, recall, latency.

Run from the project folder:  python -m bench.faq_compare [--errors]

Each method ranks the FAQ entries for a question and answers from the best one when
its score reaches the method's threshold. The threshold is chosen on the dev half of
tests/data/faq_eval.json only (the highest recall with precision >= 0.95, the middle
of that plateau), then the held-out test half is scored with it. Latency is per query
on the benchmark's 200-entry index. Precision: of the questions answered from the FAQ,
the share answered with the right entry; recall: of the questions that have an FAQ,
the share answered with the right entry.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.services.faq import MIN_MARGIN, FaqEntry, FaqIndex, KnowledgeBase  # noqa: E402
from app.services.faq_file import load_faq_file  # noqa: E402
from app.services.faq_text import STOPWORDS, stem, words_of  # noqa: E402
from bench.faq_bench import bench_questions, machine, synthetic_entries  # noqa: E402

EVAL_FILE = ROOT / "tests" / "data" / "faq_eval.json"
MIN_PRECISION = 0.95


class Matcher(Protocol):
    def best(self, question: str) -> tuple[str | None, float]:
        """Return the best entry's id and its score (0..1)."""


class SubstringMatcher:
    """The original design: an entry matches when one of its phrasings appears word for word."""

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self.phrasings = [(entry.id, _plain(p)) for entry in entries for p in entry.phrasings]

    def best(self, question: str) -> tuple[str | None, float]:
        text = _plain(question)
        return next(((entry_id, 1.0) for entry_id, phrasing in self.phrasings if phrasing in text), (None, 0.0))


class TfidfNgramMatcher:
    """TF-IDF cosine over word 1-2-grams and character 3-5-grams within words, like scikit-learn's
    TfidfVectorizer (smooth IDF over phrasings, unseen features ignored); an entry scores as its
    closest phrasing; the word and character cosines are averaged."""

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self.spaces = [_VectorSpace([f(p) for e in entries for p in e.phrasings]) for f in (_word_grams, _char_grams)]
        self.entry_of = [e.id for e in entries for _ in e.phrasings]

    def best(self, question: str) -> tuple[str | None, float]:
        totals: dict[int, float] = {}
        for space, features in zip(self.spaces, (_word_grams(question), _char_grams(question))):
            for doc, score in space.cosines(features).items():
                totals[doc] = totals.get(doc, 0.0) + score / 2
        return _best_entry(totals, self.entry_of)


class Bm25Matcher:
    """Okapi BM25 (k1=1.2, b=0.75) over stemmed words without stopwords, phrasings as documents,
    scaled by the score the question would get against itself so that thresholds mean the same
    for short and long questions."""

    def __init__(self, entries: Sequence[FaqEntry], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        docs = [_stems(p) for e in entries for p in e.phrasings]
        self.entry_of = [e.id for e in entries for _ in e.phrasings]
        self.lengths = [len(doc) for doc in docs]
        self.average = sum(self.lengths) / len(docs)
        frequency = Counter(term for doc in docs for term in set(doc))
        self.idf = {t: math.log(1 + (len(docs) - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}
        self.unseen = math.log(1 + (len(docs) + 0.5) / 0.5)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for number, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                self.postings.setdefault(term, []).append((number, count))

    def best(self, question: str) -> tuple[str | None, float]:
        terms = set(_stems(question))
        if not terms:
            return None, 0.0
        ceiling = sum(self.idf.get(t, self.unseen) * self._saturate(1, len(terms)) for t in terms)
        scores: dict[int, float] = {}
        for term in terms:
            for doc, count in self.postings.get(term, ()):
                scores[doc] = scores.get(doc, 0.0) + self.idf[term] * self._saturate(count, self.lengths[doc])
        return _best_entry({doc: score / ceiling for doc, score in scores.items()}, self.entry_of)

    def _saturate(self, count: int, length: int) -> float:
        return count * (self.k1 + 1) / (count + self.k1 * (1 - self.b + self.b * length / self.average))


class IndexMatcher:
    """FaqIndex (the shipped method), or its ablation without the knowledge base's concepts; like
    `FaqIndex.match()`, two entries tied at the top (within MIN_MARGIN) are no answer."""

    def __init__(self, knowledge_base: KnowledgeBase, concepts: bool = True) -> None:
        self.index = FaqIndex(knowledge_base.entries, knowledge_base.concepts if concepts else ())

    def best(self, question: str) -> tuple[str | None, float]:
        found = self.index.search(question, limit=2)
        if not found:
            return None, 0.0
        tied = len(found) == 2 and found[0].score - found[1].score < MIN_MARGIN
        return found[0].entry.id, 0.0 if tied else found[0].score


# Each method is built from a knowledge base; only FaqIndex uses its concepts.
METHODS = {
    "substring (old design)": lambda knowledge_base: SubstringMatcher(knowledge_base.entries),
    "TF-IDF word+char n-grams": lambda knowledge_base: TfidfNgramMatcher(knowledge_base.entries),
    "BM25 stemmed words": lambda knowledge_base: Bm25Matcher(knowledge_base.entries),
    "FaqIndex without concepts": lambda knowledge_base: IndexMatcher(knowledge_base, concepts=False),
    "FaqIndex with concepts (shipped)": IndexMatcher,
}


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    answered: int
    right: int
    should: int
    false_on_none: int


def score(results: Iterable[tuple[str | None, str | None, float]], threshold: float) -> Score:
    """Score (expected, predicted, score) triples at a threshold."""
    answered = right = should = false_on_none = 0
    for expected, predicted, value in results:
        hit = predicted is not None and value >= threshold
        should += expected is not None
        answered += hit
        right += hit and predicted == expected
        false_on_none += hit and expected is None
    return Score(right / answered if answered else 1.0, right / should if should else 1.0, answered, right, should,
                 false_on_none)


def f_beta(value: Score, beta: float) -> float:
    """Return the F-score; beta < 1 weighs precision more than recall."""
    if not value.precision or not value.recall:
        return 0.0
    return (1 + beta**2) * value.precision * value.recall / (beta**2 * value.precision + value.recall)


def choose_threshold(results: list[tuple[str | None, str | None, float]], *, min_precision: float = MIN_PRECISION,
                     beta: float = 0.5) -> float:
    """Return the middle of the plateau of thresholds with the best F-beta among those keeping the precision.

    The direct answer uses beta 0.5: a question the FAQ misses still gets a grounded model
    answer, while a wrong FAQ answer misleads, so precision counts double. The fallback
    (the model is down) uses beta 2 and precision >= 0.90: an answer on the right topic beats an error.
    """
    grid = [round(0.05 + step * 0.01, 2) for step in range(96)]
    allowed = [(t, f_beta(s, beta)) for t, s in ((t, score(results, t)) for t in grid) if s.precision >= min_precision]
    if not allowed:
        return 1.0
    best = max(f for _, f in allowed)
    plateau = [t for t, f in allowed if f == best]
    return plateau[len(plateau) // 2]


def main(show_errors: bool = False) -> None:
    """Print the comparison table."""
    queries = json.loads(EVAL_FILE.read_text(encoding="utf-8"))["queries"]
    shipped = load_faq_file(ROOT / "instance" / "faq.yaml")
    big = KnowledgeBase((*shipped.entries, *synthetic_entries(200 - len(shipped.entries))), shipped.concepts)
    questions = bench_questions()
    counts = Counter((q["split"], q["expected"] is None) for q in queries)
    print(f"machine: {machine()}")
    print(f"eval: {len(queries)} queries; dev {counts['dev', False]} match + {counts['dev', True]} must-not-match, "
          f"test {counts['test', False]} + {counts['test', True]}\n")
    print("| method | threshold (dev) | dev P / R | test P / R | all P / R (right/answered, right/should) "
          "| must-not-match answered | median latency, 200 entries |")
    print("|---|---|---|---|---|---|---|")
    fallback_line = ""
    for name, build in METHODS.items():
        matcher = build(shipped)
        results = {split: [] for split in ("dev", "test")}
        for q in queries:
            predicted, value = matcher.best(q["query"])
            results[q["split"]].append((q["expected"], predicted, value))
        threshold = choose_threshold(results["dev"])
        dev, test = score(results["dev"], threshold), score(results["test"], threshold)
        every = score(results["dev"] + results["test"], threshold)
        latency = _median_latency(build(big), questions)
        print(f"| {name} | {threshold:.2f} | {dev.precision:.3f} / {dev.recall:.3f} | "
              f"{test.precision:.3f} / {test.recall:.3f} | {every.precision:.3f} / {every.recall:.3f} "
              f"({every.right}/{every.answered}, {every.right}/{every.should}) | {every.false_on_none} "
              f"| {latency * 1e6:.0f} µs |")
        if name.endswith("(shipped)"):
            low = choose_threshold(results["dev"], min_precision=0.90, beta=2.0)
            dev_low, test_low = score(results["dev"], low), score(results["test"], low)
            fallback_line = (f"fallback threshold (dev, P >= 0.90, F2): {low:.2f}; dev P / R {dev_low.precision:.3f} / "
                             f"{dev_low.recall:.3f}, test P / R {test_low.precision:.3f} / {test_low.recall:.3f}")
        if show_errors:
            for q in queries:
                predicted, value = matcher.best(q["query"])
                hit = predicted if value >= threshold else None
                if hit != q["expected"]:
                    print(f"    {q['split']:4} want {q['expected']!s:22} got {hit!s:22} {value:.2f}  {q['query']}")
    print(f"\n{fallback_line}")


def _median_latency(matcher: Matcher, questions: list[str], rounds: int = 5) -> float:
    timings = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            matcher.best(question)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _plain(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _stems(text: str) -> list[str]:
    return [stem(w) for w in words_of(text) if w.isalnum() and w not in STOPWORDS]


def _word_grams(text: str) -> Counter[str]:
    words = re.findall(r"\b\w\w+\b", text.lower())
    return Counter(words + [f"{a} {b}" for a, b in zip(words, words[1:])])


def _char_grams(text: str) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in re.findall(r"\w+", text.lower()):
        padded = f" {word} "
        for size in (3, 4, 5):
            grams.update(padded[i:i + size] for i in range(max(1, len(padded) - size + 1)))
    return grams


class _VectorSpace:
    """TF-IDF unit vectors for documents, and cosines for a query through an inverted index."""

    def __init__(self, documents: list[Counter[str]]) -> None:
        frequency = Counter(f for doc in documents for f in doc)
        n = len(documents)
        self.idf = {f: math.log((1 + n) / (1 + df)) + 1 for f, df in frequency.items()}
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for number, doc in enumerate(documents):
            for feature, weight in self.unit(doc).items():
                self.postings.setdefault(feature, []).append((number, weight))

    def unit(self, counts: Counter[str]) -> dict[str, float]:
        weights = {f: c * self.idf[f] for f, c in counts.items() if f in self.idf}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {f: w / norm for f, w in weights.items()} if norm else {}

    def cosines(self, counts: Counter[str]) -> dict[int, float]:
        scores: dict[int, float] = {}
        for feature, weight in self.unit(counts).items():
            for doc, doc_weight in self.postings.get(feature, ()):
                scores[doc] = scores.get(doc, 0.0) + weight * doc_weight
        return scores


def _best_entry(doc_scores: dict[int, float], entry_of: list[str]) -> tuple[str | None, float]:
    best: dict[str, float] = {}
    for doc, value in doc_scores.items():
        best[entry_of[doc]] = max(best.get(entry_of[doc], 0.0), value)
    if not best:
        return None, 0.0
    entry_id = max(best, key=lambda key: (best[key], key))
    return entry_id, min(best[entry_id], 1.0)


if __name__ == "__main__":
    main(show_errors="--errors" in sys.argv)
