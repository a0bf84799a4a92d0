"""Turn customer text into the terms the FAQ index compares.

Customers write "wheres my pakage", "cant log in", "refnd pls". `Analyzer.terms()`
lower-cases, expands contractions and chat spellings, corrects one-letter typos
against the index's own vocabulary (rapidfuzz), drops what the customer says they are
*not* asking about ("I don't care about delivery hours, I want a refund"), folds
synonyms into one concept ("parcel", "package", "groceries" -> order) and stems the
other words (Snowball's Porter2 English stemmer). Read-only after construction.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

_WORD = re.compile(r"[a-z0-9]+|[,.;!?]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_CLAUSE_MARKS = frozenset(",.;!?")
_CLOCK_TIME = re.compile(r"^\d{1,2}(?:am|pm)$")  # "1pm": the customer is asking about a time

# Contractions with and without the apostrophe, and chat spellings.
_REWRITES: dict[str, str] = {
    "can't": "can not", "cant": "can not", "won't": "will not", "wont": "will not",
    "i'm": "i am", "im": "i am", "ive": "i have", "id": "i would",
    "whats": "what is", "wheres": "where is", "hows": "how is", "whens": "when is", "thats": "that is",
    "u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please", "thx": "thanks", "ty": "thanks",
    "wat": "what", "wht": "what", "wen": "when", "hw": "how", "abt": "about", "cuz": "because", "coz": "because",
}
_NOT_SUFFIX = re.compile(r"^([a-z]+)n'?t$")  # don't, didnt, isn't, havent -> do not, did not, ...
_NOT_WORDS = frozenset("do does did is are was were have has had could would should must need".split())
_CLITICS = frozenset("s re ll ve d m".split())  # where's, you're, we'll: the clitic carries no meaning here

STOPWORDS = frozenset(
    """a an the i me my mine myself we our ours us you your yours he him his she her it its they them their
    this that these those is are was were be been being am do does did doing have has had having will would
    shall should can could may might must to of in on at by for with from up down about into over after before
    again and or but if so than too very just any some there here please hi hello hey what which who whom how
    why not no yet still all get got getting want wanted need needed like also one ok okay thank oh well
    really know let make made tell way go going""".split()
)

# Phrases that say "this part is not my question": the words after them, up to the end
# of the clause, are dropped; after a retraction, everything before it is dropped.
_DISMISSALS: tuple[tuple[str, ...], ...] = tuple(
    tuple(cue.split())
    for cue in (
        "do not care about", "not asking about", "not asking for", "not talking about", "not about",
        "forget about", "not interested in", "nothing to do with", "not a question about", "not worried about",
    )
)
_RETRACTIONS: tuple[tuple[str, ...], ...] = tuple(
    tuple(cue.split()) for cue in ("never mind", "nevermind", "forget that", "scratch that", "forget it")
)
_CUE_STARTS = frozenset(cue[0] for cue in _DISMISSALS + _RETRACTIONS)
_CLAUSE_STARTS = frozenset(
    "i but just so and please can could how what where when why is are do does will would".split()
)
_DISMISSAL_REACH = 6

# Words and phrases that mean the same thing to a grocery-delivery customer, folded
# into one concept term. Written per topic of customer support, not per FAQ entry.
CONCEPTS: dict[str, str] = {
    "deliver": "deliver|delivers|delivered|delivering|delivery|deliveries|driver|drivers|courier|couriers"
    "|ship|ships|shipped|shipping|drop off|dropoff",
    "order": "order|orders|ordered|package|packages|parcel|parcels|shipment|groceries|grocery|purchase"
    "|purchases|basket",
    "when": "when|time|times|what time|how late|how early|what days|which days|hours|slot|slots|time slot"
    "|window|delivery window",
    "day": "day|days|weekday|weekdays|weekend|weekends|monday|tuesday|wednesday|thursday|friday|saturday"
    "|sunday|mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays",
    "today": "today|tonight|same day|sameday",
    "where": "where",
    "track": "track|tracks|tracked|tracking|status|on its way|on the way|eta|arrive|arrived|arriving|shown up"
    "|show up|turned up|come yet|came|come|comes|coming",
    "area": "area|areas|zip|zipcode|zip code|zip codes|postcode|postal code|neighborhood|neighbourhood|city"
    "|town|region|cover|coverage|outside",
    "cost": "cost|costs|fee|fees|charge|charges|charged|how much|price|prices|pricing|expensive|cheap"
    "|cheaper|cheapest",
    "minimum": "minimum|min",
    "refund": "refund|refunds|refunded|money back|reimburse|reimbursed|reimbursement",
    "return": "return|returns|returned|returning|send back|bring back|take back",
    "damaged": "damaged|damage|broken|broke|crushed|squashed|smashed|cracked|bruised|leaking|leaked|spoiled"
    "|spoilt|rotten|moldy|mouldy|expired|dented|torn|stale",
    "missing": "missing|forgot|forgotten|left out|not included|never came|never arrived",
    "wrong": "wrong|incorrect",
    "pay": "pay|paying|paid|payment|payments|checkout",
    "card": "card|cards|credit|debit|visa|mastercard|amex|american express|discover",
    "wallet": "paypal|apple pay|google pay|venmo",
    "cash": "cash",
    "cancel": "cancel|cancels|cancelled|canceled|cancelling|canceling|cancellation",
    "change": "change|changes|changed|modify|edit|update|amend|alter",
    "add": "add|adding|added",
    "remove": "remove|removing|removed|take off|take out",
    "mistake": "mistake|accident|accidentally|by mistake",
    "substitute": "substitute|substitutes|substituted|substitution|substitutions|replace|replaced|replacement"
    "|replacements|swap|swapped|alternative|alternatives|instead",
    "stock": "out of stock|sold out|unavailable|not available",
    "password": "password|passwords|passcode",
    "account": "account|accounts|profile",
    "login": "login|log in|logon|log on|sign in|signin|locked out|sign up|signup|register",
    "human": "human|person|someone|somebody|agent|representative|rep|operator|staff|real person|manager",
    "contact": "contact|reach|call|phone|phone number|telephone|email|e-mail|customer service|support"
    "|helpline|hotline",
    "talk": "talk|speak|chat",
    "promo": "promo|promotion|promotional|code|codes|coupon|coupons|voucher|vouchers|discount|discounts",
    "home": "home|not home|not in|away|nobody home|no one home",
    "door": "door|doorstep|porch|front door|safe spot|leave it|left it|leave my|leave the",
    "neighbour": "neighbour|neighbor|neighbours|neighbors",
    "instructions": "instructions|instruction|note|notes|gate code|buzzer",
    "missed": "missed|miss|come back|redeliver|redelivery|reschedule",
}
# Phrases that carry two concepts: "deliver to <place>" asks where, not whether.
COMPOUNDS: dict[str, str] = {
    "deliver to": "deliver area", "delivery to": "deliver area", "deliver in": "deliver area",
    "ship to": "deliver area", "delivery times": "deliver when", "delivery time": "deliver when",
    "delivery hours": "deliver when",
}
# Terms that ask something about a thing (its price, whether it is free or in stock, where it
# is) without saying what the thing is. Customers ask them of products as much as of the FAQ's
# topics, so "how much is it" or "where is it" cannot tell an entry from a product (or from
# whatever the conversation was about): they weigh in a score but never make a phrasing a
# candidate (`Analyzer.topics`). Time is not one of them: at a grocer that only delivers,
# "when can i get it" or "and on sunday?" asks about delivery whatever "it" is.
ASPECTS = frozenset({"cost", "free", "stock", "where"})


def _phrase_table() -> dict[tuple[str, ...], tuple[str, ...]]:
    """Return every phrase of the lexicon, as a word tuple, mapped to its concepts."""
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for concept, spellings in CONCEPTS.items():
        for phrase in spellings.split("|"):
            table[tuple(_WORD.findall(phrase))] = (concept,)
    for phrase, concepts in COMPOUNDS.items():
        table[tuple(_WORD.findall(phrase))] = tuple(concepts.split())
    return table


PHRASES = _phrase_table()
_LONGEST_FROM = {first: max(len(p) for p in PHRASES if p[0] == first) for first in {p[0] for p in PHRASES}}


def words_of(text: str) -> list[str]:
    """Return the text's words, lower-cased, contractions expanded, with clause marks kept."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).lower())
    text = "".join(char for char in text if not unicodedata.combining(char))
    words: list[str] = []
    for raw in re.findall(r"[a-z0-9']+|[,.;!?]", text):
        raw = raw.strip("'")
        if raw in _REWRITES:
            words.extend(_REWRITES[raw].split())
            continue
        negated = _NOT_SUFFIX.match(raw)
        if negated and negated.group(1) in _NOT_WORDS:
            words.extend([negated.group(1), "not"])
            continue
        base, _, clitic = raw.partition("'")
        if clitic in _CLITICS:
            raw = base
        words.extend(_WORD.findall(raw.replace("'", "")))
    return words


def drop_dismissed(words: Sequence[str]) -> list[str]:
    """Drop the words a customer says their question is not about, and what they took back."""
    kept: list[str] = []
    index = 0
    while index < len(words):
        if words[index] not in _CUE_STARTS:
            kept.append(words[index])
            index += 1
            continue
        retraction = next((cue for cue in _RETRACTIONS if tuple(words[index:index + len(cue)]) == cue), None)
        if retraction is not None:
            kept.clear()
            index += len(retraction)
            continue
        cue = next((cue for cue in _DISMISSALS if tuple(words[index:index + len(cue)]) == cue), None)
        if cue is None:
            kept.append(words[index])
            index += 1
            continue
        index += len(cue)
        end = min(index + _DISMISSAL_REACH, len(words))
        index += 1  # the first word after the cue is always what is dismissed
        while index < end and words[index] not in _CLAUSE_MARKS and words[index] not in _CLAUSE_STARTS:
            index += 1
    return kept


_STEMMER = snowballstemmer.stemmer("english")
_STEMMER_LOCK = threading.Lock()  # a Snowball stemmer keeps the word being stemmed in its own fields


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Return the word's Porter2 stem, so that "changes", "changed" and "change" compare equal."""
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)


class SpellingCorrector:
    """Correct a word one edit away (a letter missing, extra, wrong or swapped) from a known word."""

    MIN_LENGTH = 5  # shorter words are too often a different real word ("kale" is not "sale")
    # Short words one wrong letter apart are usually both real words ("comes" and "codes",
    # "bread" and "break"): below this length only a letter missing, extra or swapped is corrected.
    MIN_SUBSTITUTION_LENGTH = 7

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = frozenset(vocabulary)
        self._choices = sorted(self.vocabulary)
        self.correct = lru_cache(maxsize=1 << 14)(self._correct)  # customers repeat their words

    def _correct(self, word: str) -> str:
        """Return the known word the customer most likely meant, or the word unchanged."""
        if len(word) < self.MIN_LENGTH or word.isdigit() or word in self.vocabulary:
            return word
        close = [
            candidate
            for candidate, _, _ in process.extract(word, self._choices, scorer=OSA.distance, score_cutoff=1, limit=None)
            if len(word) >= self.MIN_SUBSTITUTION_LENGTH or not _one_letter_replaced(word, candidate)
        ]
        return min(close) if close else word


def _one_letter_replaced(first: str, second: str) -> bool:
    """Return whether the two words differ in exactly one letter at the same place."""
    return len(first) == len(second) and sum(a != b for a, b in zip(first, second)) == 1


class Analyzer:
    """The pipeline from text to terms, with typos corrected against a vocabulary."""

    def __init__(self, vocabulary: Iterable[str] = (), *, concepts: bool = True) -> None:
        self.concepts = concepts
        self._concept_names = frozenset(CONCEPTS) if concepts else frozenset()
        known = {word for phrase in PHRASES for word in phrase} if concepts else set()
        self.corrector = SpellingCorrector(
            word for word in {*vocabulary, *known} if word not in STOPWORDS and word.isalpha()
        )

    def terms(self, text: str) -> list[str]:
        """Return the text's terms in order: concepts and stemmed words, stopwords left out."""
        words = [word if word in _CLAUSE_MARKS else self.corrector.correct(word) for word in words_of(text)]
        words = drop_dismissed(words)
        terms: list[str] = []
        index = 0
        while index < len(words):
            concepts, length = self._concepts_at(words, index)
            if concepts:
                terms.extend(concepts)
                index += length
                continue
            word = words[index]
            if _CLOCK_TIME.match(word):
                terms.append("when")
            elif word not in STOPWORDS and word not in _CLAUSE_MARKS and not word.isdigit():
                terms.append(stem(word))  # numbers (order numbers, quantities) say nothing about the topic
            index += 1
        return terms

    def topics(self, terms: Iterable[str]) -> frozenset[str]:
        """Return the terms that say what a text is about: its concepts, aspects left out, or, when
        the lexicon has none for it (an entry on a topic it does not cover), its other words."""
        subjects = frozenset(terms) - ASPECTS
        return (subjects & self._concept_names) or subjects

    def _concepts_at(self, words: Sequence[str], index: int) -> tuple[tuple[str, ...], int]:
        """Return the concepts of the longest lexicon phrase starting at `index`, and its length in words."""
        if self.concepts:
            for length in range(min(_LONGEST_FROM.get(words[index], 0), len(words) - index), 0, -1):
                concepts = PHRASES.get(tuple(words[index:index + length]))
                if concepts is not None:
                    return concepts, length
        return (), 1


def vocabulary_of(texts: Iterable[str]) -> set[str]:
    """Return the words of the texts, as `words_of` spells them."""
    return {word for text in texts for word in words_of(text) if word not in _CLAUSE_MARKS}
