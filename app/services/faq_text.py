"""Turn customer text into the terms the FAQ index compares.

Customers write "wheres my pakage", "cant log in", "refnd pls". `Analyzer.terms()`
lower-cases, expands contractions and chat spellings, corrects typos against the
index's own vocabulary (rapidfuzz), drops what the customer says they are *not*
asking about ("I don't care about delivery hours, I want a refund"), folds phrases
into the concepts of the knowledge base ("parcel", "package", "groceries" -> order)
and stems the other words (Snowball's Porter2 English stemmer).
The concepts are data (`Concept`, the `concepts:` section of the FAQ file); the
English here (contractions, stopwords, dismissals) is not specific to the shop.
Everything is read-only after construction, so one analyzer serves every thread.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

_WORD = re.compile(r"[a-z0-9]+|[,.;!?]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_CLAUSE_MARKS = frozenset(",.;!?")
_CLOCK_TIME = re.compile(r"^\d{1,2}(?:am|pm)$")  # "1pm" is a time, whatever the number

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


@dataclass(frozen=True)
class Concept:
    """Words and phrases that mean one thing to a customer, folded into one term named `name`.

    An aspect asks something about a thing (its price, whether it is free or in stock, where
    it is) without saying what the thing is: it weighs in a score but never makes an FAQ
    phrasing a candidate on its own (`Analyzer.topics`).
    """

    name: str
    phrases: tuple[str, ...]
    aspect: bool = False


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
        by_length: dict[int, list[str]] = {}
        for word in sorted(self.vocabulary):
            by_length.setdefault(len(word), []).append(word)
        # rapidfuzz compares a word with every choice it is given; only words at most one letter
        # longer or shorter can be one edit away, which halves the time of a correction.
        self._near_length = {
            length: tuple(word for near in (length - 1, length, length + 1) for word in by_length.get(near, ()))
            for length in range(self.MIN_LENGTH, max(by_length, default=0) + 2)
        }
        self.correct = lru_cache(maxsize=1 << 14)(self._correct)  # customers repeat their words

    def _correct(self, word: str) -> str:
        """Return the known word the customer most likely meant, or the word unchanged."""
        if len(word) < self.MIN_LENGTH or word.isdigit() or word in self.vocabulary:
            return word
        close = [
            candidate
            for candidate, _, _ in process.extract(
                word, self._near_length.get(len(word), ()), scorer=OSA.distance, score_cutoff=1, limit=None
            )
            if len(word) >= self.MIN_SUBSTITUTION_LENGTH or not _one_letter_replaced(word, candidate)
        ]
        return min(close) if close else word


def _one_letter_replaced(first: str, second: str) -> bool:
    """Return whether the two words differ in exactly one letter at the same place."""
    return len(first) == len(second) and sum(a != b for a, b in zip(first, second)) == 1


class Lexicon:
    """The concepts' phrases, and the concepts they stand for."""

    def __init__(self, concepts: Iterable[Concept]) -> None:
        self.concepts = tuple(concepts)
        self.names = frozenset(concept.name for concept in self.concepts)
        self.aspects = frozenset(concept.name for concept in self.concepts if concept.aspect)
        self._phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        for concept in self.concepts:
            for phrase in concept.phrases:
                words = tuple(word for word in words_of(phrase) if word not in _CLAUSE_MARKS)
                if words and concept.name not in self._phrases.get(words, ()):
                    # A phrase listed under two concepts means both.
                    self._phrases[words] = (*self._phrases.get(words, ()), concept.name)
        self._longest: dict[str, int] = {}  # the most words a phrase starting with this one has
        for words in self._phrases:
            self._longest[words[0]] = max(self._longest.get(words[0], 0), len(words))
        self.words = frozenset(word for phrase in self._phrases for word in phrase)

    def concepts_at(self, words: Sequence[str], index: int) -> tuple[tuple[str, ...], int]:
        """Return the concepts of the longest phrase starting at `index`, and its length in words."""
        for length in range(min(self._longest.get(words[index], 0), len(words) - index), 0, -1):
            found = self._phrases.get(tuple(words[index:index + length]))
            if found:
                return found, length
        return (), 1


class Analyzer:
    """The pipeline from text to terms, with typos corrected against a vocabulary."""

    def __init__(self, vocabulary: Iterable[str] = (), concepts: Iterable[Concept] = ()) -> None:
        self.lexicon = Lexicon(concepts)
        self.corrector = SpellingCorrector(
            word for word in {*vocabulary, *self.lexicon.words} if word not in STOPWORDS and word.isalpha()
        )

    def terms(self, text: str) -> list[str]:
        """Return the text's terms in order: concepts and stemmed words, stopwords left out."""
        words = [word if word in _CLAUSE_MARKS else self.corrector.correct(word) for word in words_of(text)]
        words = ["time" if _CLOCK_TIME.match(word) else word for word in drop_dismissed(words)]
        terms: list[str] = []
        index = 0
        while index < len(words):
            concepts, length = self.lexicon.concepts_at(words, index)
            if concepts:
                terms.extend(concepts)
            elif words[index] not in STOPWORDS and words[index] not in _CLAUSE_MARKS and not words[index].isdigit():
                terms.append(stem(words[index]))  # numbers (order numbers, quantities) say nothing about the topic
            index += length
        return terms

    def topics(self, terms: Iterable[str]) -> frozenset[str]:
        """Return the terms that say what a text is about: its concepts, aspects left out, or, when
        the lexicon has none for it (an entry on a topic it does not cover), its other words."""
        subjects = frozenset(terms) - self.lexicon.aspects
        return (subjects & self.lexicon.names) or subjects


def vocabulary_of(texts: Iterable[str]) -> set[str]:
    """Return the words of the texts, as `words_of` spells them."""
    return {word for text in texts for word in words_of(text) if word not in _CLAUSE_MARKS}
