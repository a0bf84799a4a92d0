"""The labelled evaluation set holds the matcher to precision >= 0.95 and recall >= 0.90.

Precision: of the questions answered from the FAQ, the share answered with the right entry
(a must-not-match question answered from the FAQ counts against it). Recall: of the
questions that have an FAQ, the share answered with the right one. docs/knowledge-base.md has the
figures and how the method and thresholds were chosen (`python -m bench.faq_compare`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services.faq import FaqIndex
from app.services.faq_file import load_faq_file

ROOT = Path(__file__).parent.parent
QUERIES = json.loads((ROOT / "tests" / "data" / "faq_eval.json").read_text(encoding="utf-8"))["queries"]


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    knowledge_base = load_faq_file(ROOT / "instance" / "faq.yaml")
    return FaqIndex(knowledge_base.entries, knowledge_base.concepts)


def precision_and_recall(index: FaqIndex, queries: list[dict]) -> tuple[float, float]:
    answered = right = should = 0
    for query in queries:
        match = index.match(query["query"])
        answered += match is not None
        right += match is not None and match.entry.id == query["expected"]
        should += query["expected"] is not None
    return right / answered, right / should


def test_the_evaluation_set_is_big_enough_and_labelled_with_shipped_ids(index):
    must_not_match = [q for q in QUERIES if q["expected"] is None]
    ids = {entry.id for entry in index.entries}

    assert len(QUERIES) >= 80 and len(must_not_match) >= 25
    assert {q["expected"] for q in QUERIES} - {None} <= ids
    assert {q["split"] for q in QUERIES} == {"dev", "test"}
    assert len({q["query"] for q in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("split", ["all", "test"])
def test_precision_and_recall_hold_on_the_evaluation_set(index, split):
    queries = QUERIES if split == "all" else [q for q in QUERIES if q["split"] == split]

    precision, recall = precision_and_recall(index, queries)

    assert precision >= 0.95
    assert recall >= 0.90
