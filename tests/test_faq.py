"""FaqIndex: matching by meaning, ranking, the two thresholds and the text pipeline behind them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.services.faq import FaqEntry, FaqIndex
from app.services.faq_file import load_faq_file
from app.services.faq_text import Analyzer, Concept, SpellingCorrector, drop_dismissed, stem, words_of

SHIPPED = Path(__file__).parent.parent / "instance" / "faq.yaml"
CONCEPTS = load_faq_file(SHIPPED).concepts


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return FaqIndex(load_faq_file(SHIPPED).entries, CONCEPTS)


@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        ("When do you deliver?", "delivery-hours"),
        ("what time do the drivers come", "delivery-hours"),
        ("where's my package", "order-status"),
        ("I don't care about delivery hours, I want a refund", "returns-refunds"),
        ("What are your delivery hours?", "delivery-hours"),
        ("HOW DO I TRACK MY ORDER???", "order-status"),
    ],
)
def test_paraphrases_get_their_faq(index, question, faq_id):
    match = index.match(question)

    assert match is not None and match.entry.id == faq_id
    assert 0 < match.score <= 1


@pytest.mark.parametrize(
    "question",
    [
        "Do you sell organic kale?",
        "hello",
        "kale?",
        "apples?",
        "xxxxxxxxxx",
        "the delivery guy was super nice today just wanted to say thanks",
        "i dont care about the delivery fee, are your bananas organic",
        "",
        "???",
    ],
)
def test_unrelated_questions_and_passing_mentions_go_to_the_model(index, question):
    assert index.match(question) is None
    assert index.fallback(question) is None


@pytest.mark.parametrize(
    "question",
    ["How much is it?", "how much", "is it free", "whats the price", "is it in stock", "where is it",
     "can i use it", "how long does it take", "do you have any left"],
)
def test_a_follow_up_that_names_no_topic_goes_to_the_model_without_facts(index, question):
    # Only the conversation says what "it" is; the FAQ does not see it, DeepSeek does.
    assert index.match(question) is None
    assert index.related(question) == []
    assert index.fallback(question) is None


@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        ("how much is delivery", "delivery-areas-fees"),
        ("is delivery free", "delivery-areas-fees"),
        ("whats the delivery price", "delivery-areas-fees"),
        ("when will it arrive", "order-status"),
        ("can i return it", "returns-refunds"),
        ("and on sunday?", "delivery-hours"),
        ("can i get it today", "delivery-hours"),
    ],
)
def test_a_follow_up_that_names_a_topic_still_gets_its_faq(index, question, faq_id):
    match = index.match(question)

    assert match is not None and match.entry.id == faq_id


def test_a_phrasing_is_about_its_concepts_and_not_its_aspects():
    analyzer = Analyzer(concepts=CONCEPTS)

    assert analyzer.topics(analyzer.terms("How much does delivery cost?")) == {"deliver"}
    assert analyzer.topics(analyzer.terms("How do I use a promo code?")) == {"promo"}
    assert analyzer.topics(analyzer.terms("Is the loyalty program free?")) == {"loyalti", "program"}
    assert analyzer.topics(analyzer.terms("how much is it")) == frozenset()


def test_an_entry_the_lexicon_does_not_cover_is_about_its_own_words():
    entry = FaqEntry("loyalty", ("Is the loyalty program free?", "How do loyalty points work?"), "Yes.")
    index = FaqIndex([entry], CONCEPTS)

    assert index.match("loyalty points?").entry.id == "loyalty"
    assert index.match("is it free") is None


def test_search_ranks_best_first_and_respects_the_limit(index):
    found = index.search("can i change my delivery time", limit=3)

    assert len(found) == 3
    assert [f.score for f in found] == sorted((f.score for f in found), reverse=True)
    assert found[0].entry.id == "cancel-change-order"
    assert index.search("kale", limit=3) == []


def test_the_fallback_bar_is_lower_than_the_direct_one(index):
    question = "the strawberries were moldy"  # a real complaint the direct bar misses

    assert index.related_threshold < index.match_threshold
    assert index.match(question) is None
    fallback = index.fallback(question)
    assert fallback is not None and fallback.entry.id == "damaged-missing-items"
    assert [found.entry.id for found in index.related(question)] == ["damaged-missing-items"]


def test_related_returns_only_entries_above_the_related_bar(index):
    related = index.related("delivery hours", limit=3)

    assert 1 <= len(related) <= 3
    assert all(found.score >= index.related_threshold for found in related)
    assert related[0].entry.id == "delivery-hours"


def test_two_entries_tied_at_the_top_are_left_to_the_model():
    entries = [
        FaqEntry("fees", ("What is the delivery fee?",), "Fees."),
        FaqEntry("hours", ("What are the delivery hours?",), "Hours."),
    ]
    index = FaqIndex(entries)

    assert index.match("delivery") is None
    assert index.match("delivery fee").entry.id == "fees"
    assert {found.entry.id for found in index.related("delivery")} <= {"fees", "hours"}


def test_thresholds_can_be_set_per_index():
    entries = [FaqEntry("pay", ("How can I pay?",), "By card.")]

    assert FaqIndex(entries, match_threshold=1.01).match("how can i pay") is None
    assert FaqIndex(entries).match("how can i pay").entry.id == "pay"


def test_one_index_serves_many_threads_with_the_same_answers(index):
    questions = ["when do you deliver", "wheres my package", "refund pls", "do you sell kale"] * 50
    expected = [index.match(q) for q in questions]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(index.match, questions)) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Where's my order? I haven't got it", ["where", "my", "order", "?", "i", "have", "not", "got", "it"]),
        ("cant login, dont know why", ["can", "not", "login", ",", "do", "not", "know", "why"]),
        ("wat time r u here", ["what", "time", "are", "you", "here"]),
        ("Café’s crème", ["cafe", "creme"]),
    ],
)
def test_words_expand_contractions_and_chat_spellings(text, words):
    assert words_of(text) == words


def test_dismissed_words_are_dropped_to_the_end_of_the_clause():
    words = words_of("I don't care about delivery hours, I want a refund")

    assert drop_dismissed(words) == ["i", ",", "i", "want", "a", "refund"]
    assert drop_dismissed(words_of("delivery hours? never mind, where is my order")) == [
        ",", "where", "is", "my", "order",
    ]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [("changes", "chang"), ("changed", "chang"), ("change", "chang"), ("deliveries", "deliveri"),
     ("delivery", "deliveri"), ("address", "address"), ("addresses", "address"), ("shipping", "ship"),
     ("boxes", "box"), ("taxes", "tax"), ("available", "avail"), ("availability", "avail"), ("code", "code"),
     ("2024", "2024")],
)
def test_stem_folds_suffixes(word, stemmed):
    assert stem(word) == stemmed


def test_stem_gives_the_same_stems_in_many_threads():
    words = ["availability", "deliveries", "substitutions", "cancellation", "refunded", "passwords"] * 200
    expected = [stem.__wrapped__(word) for word in words]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(stem.__wrapped__, words)) == expected


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("refnd", "refund"), ("pasword", "password"), ("cancle", "cancel"), ("acount", "account"),
     ("deliverry", "delivery"), ("delivary", "delivery")],
)
def test_one_letter_typos_are_corrected(typo, meant):
    corrector = SpellingCorrector(["refund", "password", "cancel", "account", "delivery", "codes"])

    assert corrector.correct(typo) == meant


@pytest.mark.parametrize("word", ["comes", "kale", "refunds2", "cakes", "zzzzzz", "12345"])
def test_real_words_and_short_words_are_left_alone(word):
    corrector = SpellingCorrector(["codes", "sale", "refund", "makes"])

    assert corrector.correct(word) == word


def test_synonyms_fold_into_concepts():
    analyzer = Analyzer(concepts=CONCEPTS)

    assert analyzer.terms("where is my parcel") == analyzer.terms("where's my package")
    assert analyzer.terms("do you deliver to brooklyn") == ["deliver", "area", "brooklyn"]
    assert analyzer.terms("order 1234 at 1pm") == ["order", "when"]
    assert Analyzer().terms("where is my parcel") == ["where", "parcel"]


def test_the_concepts_are_data_given_to_the_index():
    entries = [FaqEntry("status", ("Where is my package?",), "On its way."), FaqEntry("pay", ("How to pay?",), "Card.")]
    concepts = [Concept("order", ("package", "parcel", "groceries"))]

    assert FaqIndex(entries).match("where are my groceries") is None
    assert FaqIndex(entries, concepts).match("where are my groceries").entry.id == "status"
    assert FaqIndex(entries, concepts).concepts == tuple(concepts)


def test_the_longest_phrase_wins_and_a_phrase_under_two_concepts_means_both():
    analyzer = Analyzer(concepts=[
        Concept("deliver", ("delivery", "deliver to")),
        Concept("area", ("zip code", "deliver to")),
        Concept("when", ("delivery window", "time")),
    ])

    assert analyzer.terms("deliver to my zip code") == ["deliver", "area", "area"]
    assert analyzer.terms("my delivery window") == ["when"]
    assert analyzer.terms("delivery at 10am") == ["deliver", "when"]  # a clock time is a time


def test_an_aspect_weighs_in_a_score_but_names_no_topic():
    concepts = [Concept("cost", ("price", "how much"), aspect=True), Concept("deliver", ("delivery",))]
    analyzer = Analyzer(concepts=concepts)
    index = FaqIndex([FaqEntry("fees", ("How much is delivery?",), "$4.99.")], concepts)

    assert analyzer.topics(analyzer.terms("how much is delivery")) == {"deliver"}
    assert analyzer.topics(analyzer.terms("what is the price")) == frozenset()
    assert index.match("what's the delivery price").entry.id == "fees"
    assert index.match("what is the price") is None
