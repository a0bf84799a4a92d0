"""How fast FaqIndex answers: an index of 200 entries, many customer questions, per-query latency.

Run from the project folder:  python -m bench.faq_bench  (or python bench/faq_bench.py)
The index holds the shipped FAQ plus generated, realistic entries up to 200; the
questions are the evaluation set's plus their variants. Prints the machine and a table
of median, p90, p99 and max per-query latency for match(), search() and related(), and
for match() on first sight: the stemmer's and the typo corrector's caches emptied before
each question, as for a customer whose words the worker has not seen yet.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `app` importable
    sys.path.insert(0, str(ROOT))

from app.services.faq import FaqEntry, FaqIndex, FaqMatch  # noqa: E402
from app.services.faq_file import load_faq_file  # noqa: E402
from app.services.faq_text import stem  # noqa: E402

ENTRIES = 200
ROUNDS = 20

SUBJECTS = (
    "gift cards", "alcohol delivery", "catering orders", "business accounts", "loyalty points", "bulk orders",
    "meal kits", "baby food", "pet supplies", "organic produce", "gluten-free products", "kosher products",
    "halal meat", "local farms", "recyclable packaging", "reusable bags", "price matching", "student discounts",
    "senior shopping hours", "tipping drivers", "allergen labels", "nutrition information", "recipe ideas",
    "seasonal produce boxes", "flower bouquets", "birthday cakes", "frozen food", "fresh fish", "wine pairings",
    "app notifications", "the privacy policy", "deleting my data", "the referral program", "the subscription box",
    "pausing my subscription", "invoices", "receipts", "tax-exempt purchases", "SNAP EBT payments",
    "contactless delivery", "pickup lockers", "curbside pickup", "store locations", "careers", "becoming a supplier",
    "press inquiries", "sustainability", "carbon-neutral delivery", "dry ice in boxes", "ice cream melting",
)
QUALIFIERS = ("", " for my office", " in New Jersey", " on weekends", " for a party")
TEMPLATES = (
    "Do you offer {s}{q}?", "How do {s} work{q}?", "Tell me about {s}{q}.", "Can I get {s}{q}?",
    "What is your policy on {s}{q}?", "Where can I find information about {s}{q}?", "Are {s} available{q}?",
    "I have a question about {s}{q}.", "Is there anything special about {s}{q}?",
)


def synthetic_entries(count: int, seed: int = 4) -> list[FaqEntry]:
    """Return `count` generated entries that read like a grocer's FAQ, deterministically."""
    rng = random.Random(seed)
    entries = []
    for number in range(count):
        subject = SUBJECTS[number % len(SUBJECTS)]
        qualifier = QUALIFIERS[(number // len(SUBJECTS)) % len(QUALIFIERS)]
        phrasings = tuple(template.format(s=subject, q=qualifier) for template in rng.sample(TEMPLATES, 6))
        answer = f"Here is what you need to know about {subject}{qualifier}: see our help centre for details."
        entries.append(FaqEntry(id=f"generated-{number + 1}", phrasings=phrasings, answer=answer))
    return entries


def bench_index(size: int = ENTRIES) -> FaqIndex:
    """Return an index of the shipped FAQ plus generated entries, `size` in all."""
    shipped = load_faq_file(ROOT / "instance" / "faq.yaml")
    return FaqIndex([*shipped.entries, *synthetic_entries(size - len(shipped.entries))], shipped.concepts)


def bench_questions() -> list[str]:
    """Return the evaluation set's questions and longer, noisier variants of them."""
    import json

    queries = [item["query"] for item in json.loads((ROOT / "tests" / "data" / "faq_eval.json").read_text())["queries"]]
    padded = [f"hi there, {query} thanks a lot, I have been a customer for years" for query in queries]
    return queries + padded


def machine() -> str:
    """Return a line describing the CPU, cores and Python version."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def time_per_call(call: Callable[[str], object], questions: list[str], rounds: int = ROUNDS) -> list[float]:
    """Return the seconds each call took, over every question for `rounds` rounds."""
    for question in questions:  # warm up
        call(question)
    timings = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            call(question)
            timings.append(time.perf_counter() - started)
    return timings


def first_sight(index: FaqIndex) -> Callable[[str], FaqMatch | None]:
    """Return `index.match` with the analyzer's caches emptied before each question."""

    def match(question: str) -> FaqMatch | None:
        stem.cache_clear()
        index.analyzer.corrector.correct.cache_clear()
        return index.match(question)

    return match


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the sorted values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Build the 200-entry index, time the lookups and print the table."""
    started = time.perf_counter()
    index = bench_index()
    build_ms = (time.perf_counter() - started) * 1000
    questions = bench_questions()
    phrasings = sum(len(entry.phrasings) for entry in index.entries)
    print(f"machine: {machine()}")
    print(f"index: {len(index)} entries, {phrasings} phrasings, built in {build_ms:.0f} ms")
    print(f"questions: {len(questions)} x {ROUNDS} rounds\n")
    print("| call | median | p90 | p99 | max |")
    print("|---|---|---|---|---|")
    calls = (("match()", index.match), ("search(limit=5)", index.search), ("related()", index.related),
             ("match(), first sight", first_sight(index)))
    for name, call in calls:
        timings = time_per_call(call, questions)
        cells = [statistics.median(timings), percentile(timings, 0.90), percentile(timings, 0.99), max(timings)]
        print(f"| {name} | " + " | ".join(f"{seconds * 1e6:.0f} µs" for seconds in cells) + " |")


if __name__ == "__main__":
    main()
