"""Tell whether a customer asks, in words, to be put in touch with a person from support.

The rule, in plain words. A message asks for a person when it
- asks to talk, speak or chat with a person or with support ("can I talk to a human", "speak to someone
  from support", "how do I talk to a real person"), or to be connected, transferred, put through or
  escalated to one ("connect me to an agent", "escalate this to a supervisor");
- asks for a person by name ("I want a real person", "get me an agent", "I need help from a human",
  "is there anyone I can speak with?", "can a real person help me");
- is nothing but a person, in a clause of its own ("agent please", "operator", "live agent",
  "customer service rep", "HUMAN!!!");
- or refuses the bot ("I don't want to talk to a bot", "I'm tired of talking to a robot").
It does not when
- the person is not wanted: "I don't need a human", "no need for an agent", "without talking to anyone",
  "instead of talking to a human", "do I need to talk to an agent to cancel?", "if I need someone later";
- the person is someone else: a driver, courier, shopper, neighbour or account manager ("can I speak to
  the driver about the gate code" goes to the FAQ and DeepSeek: the driver is not support), a person in an
  ordinary question ("does a person check the produce", "is the agent fee included", "in person");
- it asks how or when to contact support ("how do I contact support?", "what are your support hours?",
  "can someone call me?"): contact details and hours are the FAQ's contact entry, not a live handoff. Only
  talking (talk, speak, chat) or being connected to a person counts, however it is phrased;
- it asks what the bot is ("are you a bot?", "am I talking to a real person?").
Typos one letter away from a cue word ("humna", "agnet", "represenative"), any casing and contractions
with or without the apostrophe ("I'd", "cant") are understood. Other languages are out of scope: only the
English words above are recognised ("quiero hablar con un agente" is not a handoff).

Plain regular expressions over the normalised words: deterministic, tens of microseconds a message, no
model to load. tests/data/handoff_eval.json is the labelled set, `python -m bench.handoff_eval` scores it,
docs/handoff.md has the figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.services.faq_text import SpellingCorrector, drop_dismissed, words_of


def _one_of(phrases: str) -> str:
    """Return a regex group matching any of the "|"-separated phrases, longest first."""
    options = sorted({phrase.strip() for phrase in phrases.split("|")}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(option) for option in options) + ")"


# Who the customer may ask for. "people" needs a qualifier ("real people"); "someone" only counts as whom
# to talk with ("talk to someone"), never as a thing wanted ("I need someone to carry the bags").
_PERSON_WORDS = (
    "human|humans|human being|person|agent|agents|representative|representatives|rep|reps|operator"
    "|operators|supervisor|manager|staff member|member of staff|team member|employee|colleague|advisor|adviser"
    "|specialist|representive|representitive"  # the two commonest misspellings, two letters away
)
_ANYONE_WORDS = "someone|somebody|anyone|anybody"
_TEAM_WORDS = (
    "customer service|customer services|customer support|customer care|support|support team"
    "|customer service team|team|help desk|helpdesk|service desk|staff"
)
_DESK_WORDS = "customer service|customer services|customer support|customer care|live support|human support"
_BOT_WORDS = "bot|bots|robot|robots|chatbot|chatbots|machine|ai|computer|automated system|virtual assistant"
_WORD_LISTS = (_PERSON_WORDS, _ANYONE_WORDS, _TEAM_WORDS, _DESK_WORDS, _BOT_WORDS)
_PERSON, _ANYONE, _TEAM, _DESK, _BOT = map(_one_of, _WORD_LISTS)
_QUALIFIER = _one_of(
    "real|live|actual|proper|human|living|breathing|competent|senior|other|different|customer service"
    "|customer services|customer support|customer care|support|service|sales"
)
_DETERMINER = _one_of("a|an|the|some|any|one|your|another")

_NAMED_PERSON = rf"(?:{_DETERMINER} )?(?:{_QUALIFIER} ){{0,3}}(?:{_PERSON}|{_one_of('real|actual|live')} people)"
_SOMEONE = rf"(?:{_NAMED_PERSON}|{_ANYONE}|(?:{_DETERMINER} )?(?:{_one_of('real|live|human')} )?{_TEAM})"

# What may follow the person for it to be the one asked for: the end of the clause, a courtesy, a
# purpose ("to help me"), "someone who can help". Anything else makes the person a modifier or a
# third party: "agent fee", "a person to sign for it", "the person who delivered my order", "a person
# to help me carry the bags". A place ("someone at GreenGrocer") follows only whom to talk with: a
# person wanted "at home" is a delivery question.
_THEN = _one_of(
    "please|now|asap|immediately|urgently|right|here|there|today|instead|rather|not|than|and|or|but|so"
    "|because|as|if|on|from|about|regarding|for|with|over|i|thanks|thank|already|again|real|else"
    "|directly|personally|this"
)
_TO_DO = _one_of("talk|speak|chat|look|sort|handle|deal|fix|review|answer|explain|call|contact|discuss|resolve")
_TO_HELP = (
    r"to (?:help|assist)(?: me| us)?"
    r"(?=$| [,.;!?]| (?:with|please|now|out|asap|here|regarding|about|sort|fix|figure|understand)\b)"
)
_WHO_CAN = _one_of("can|could|will|would|knows|understands|actually|speaks|handles|deals|works")
_WANTED_HEAD = rf"(?=$| [,.;!?]| {_THEN}\b| to {_TO_DO}\b| {_TO_HELP}| (?:who|that) {_WHO_CAN}\b)"
_HEAD = rf"(?=$| [,.;!?]| (?:{_THEN}|at|in)\b| to {_TO_DO}\b| {_TO_HELP}| (?:who|that) {_WHO_CAN}\b)"

_TALK = r"(?:talk|speak|chat|converse|have a word|have a chat)(?: directly| personally| properly)? (?:to|with)"
_CONNECTED_ITEM = _one_of(
    "me|us|this|this chat|my chat|the chat|this conversation|my case|this case|my issue|this issue"
    "|my complaint|my ticket|my query|my question|my request"
)
_CONNECT = (
    rf"(?:(?:connect|connected|transfer|transferred|escalate|escalated|forward|forwarded|pass|hand|switch"
    rf"|switched|redirect|redirected|route|routed|patch)(?: {_CONNECTED_ITEM})?(?: through| over| back| on)?"
    rf" (?:to|with)|put(?: {_CONNECTED_ITEM})? (?:through to|in touch with|on to|on with)"
    rf"|get(?: me| us)? through to|(?:get|send) (?:me|us) to)"
)
_WANT = (
    r"(?:(?:i|we|would) like|want|wants|wanna|need|needs|prefer|request|demand|require|get|give|find"
    r"|ask for|asking for|looking for|(?:can|could|may) (?:i|we) have)(?: me| us)?"
)
_HELP_FROM = r"(?:(?:some )?(?:help|assistance|answers|answer|support) from )"
_HANDLED = r"(?:handled|dealt with|reviewed|looked at|answered|checked|sorted|sorted out) by"
_CLAUSE_MARKS = frozenset(",.;!?")

# name -> pattern. Each match is then checked by the guards below (except where noted).
_CUES: dict[str, re.Pattern[str]] = {
    "talk_to_person": re.compile(rf"\b{_TALK} {_SOMEONE}{_HEAD}"),
    "connect_to_person": re.compile(rf"\b{_CONNECT} {_SOMEONE}{_HEAD}"),
    "ask_for_person": re.compile(
        rf"\b{_WANT} (?:{_HELP_FROM}?{_NAMED_PERSON}{_WANTED_HEAD}|{_ANYONE} to (?:talk|speak|chat)\b"
        rf"|(?:some )?(?:real |live )?human (?:help|assistance|support)\b)"
        rf"|\b(?:want|need|like|prefer)\b(?: [a-z]+){{0,4}} {_HANDLED} {_NAMED_PERSON}{_WANTED_HEAD}"
    ),
    "person_to_me": re.compile(
        rf"\b(?:{_SOMEONE}(?: from {_SOMEONE})?(?: please)?(?: to)? {_TALK} me"
        rf"|(?:{_NAMED_PERSON}|{_ANYONE} from {_SOMEONE})(?: please)? (?:help|assist) me"
        rf"|(?:can|could|would|will|please|let|have|get) {_NAMED_PERSON}(?: please)?"
        rf" (?:look at|look into|review|handle|deal with|take over))\b"
    ),
    "is_there_person": re.compile(
        rf"\b(?:is|are) there(?: {_DETERMINER})?(?: {_QUALIFIER}){{0,3}} (?:{_PERSON}|{_ANYONE}|people)"
        rf" (?:(?:i|we) (?:can|could) (?:talk|speak|chat)\b|(?:who|that) (?:can|could) (?:help|talk|speak|chat)\b"
        rf"|to (?:talk|speak|chat)\b|(?:available|online|around|here|there)(?: now| right now| today)?(?: please)?"
        rf"(?:$| [,.;!?]))"
    ),
}
# A whole clause that is only a person and courtesies: "agent please", "live agent", "HUMAN!!!".
_FILLER = _one_of(
    "please|now|right now|asap|immediately|urgently|hi|hello|hey|ok|okay|yes|yeah|yep|yo|just|thanks|thank you"
    "|again|then"
)
_ONLY_A_PERSON = re.compile(rf"^(?:{_FILLER} ){{0,4}}(?:{_NAMED_PERSON}|{_DESK})(?: {_FILLER}){{0,4}}$")
# Refusing the bot is a request for a person; no negation guard (the negation is the point).
_REFUSE_BOT = re.compile(
    rf"\b(?:(?:(?:do not|never) (?:want|wanna|like)|(?:tired|sick|fed up|done) (?:of|with))(?: to)?"
    rf"(?: (?:talk|talking|speak|speaking|chat|chatting) (?:to|with))?|not (?:talking|speaking|chatting) (?:to|with))"
    rf" (?:a |the |this |your |some )?{_BOT}\b"
)

# Words after which "not" is a complaint, not a refusal: "why can't I talk to a human".
_COMPLAINING_NOT = frozenset("can could will".split())
_NEGATORS = frozenset("not never without nor".split())
_HYPOTHETICAL = re.compile(r"\bif\b|\b(?:do|does|did|will|would|must) (?:i|we|you|one) (?:need|have|got)\b")
_DISMISSAL = re.compile(r"\b(?:no need|no more|instead of|rather than)\b")
# Someone else doing the talking: "tell the driver to talk to someone at reception".
_THIRD_PARTIES = frozenset(
    "driver drivers courier couriers delivery shopper shoppers neighbor neighbour neighbors neighbours doorman"
    " concierge".split()
)
_THIRD_PARTY_REACH = 3
_NOUN_MARKERS = frozenset("my the your our his her their last previous this that earlier first".split())
# Words whose typos are corrected (one letter missing, extra or swapped: "humna", "agnet"). Not "manager":
# "manage my account" is not a typo.
_CORRECTED = (
    "human humans person people agent agents representative representatives operator operators supervisor"
    " someone somebody anyone anybody customer service support connect transfer escalate speak robot chatbot"
).split()
_CORRECTOR = SpellingCorrector(_CORRECTED)
# Every cue names a person, a team or a bot: a message without one of their words cannot ask for a
# person, and most messages stop there.
_TRIGGERS = frozenset(word for words in (*_WORD_LISTS, "people") for word in re.findall(r"[a-z]+", words))


def handoff_cue(message: str) -> str | None:
    """Return the name of the rule by which the message asks for a person, or None when it does not."""
    # drop_dismissed: "never mind" takes back what came before, "not asking about X" takes back X.
    words = drop_dismissed([_CORRECTOR.correct(word) for word in words_of(message)])
    if _TRIGGERS.isdisjoint(words):
        return None
    for clause in _clauses(words):
        if _ONLY_A_PERSON.match(" ".join(clause)):
            return "only_a_person"
    text = " ".join(words)
    refusal = _REFUSE_BOT.search(text)
    if refusal and " but " not in text[refusal.end():]:  # "I don't like bots but ok, where's my order?"
        return "refuse_bot"
    for name, pattern in _CUES.items():
        for match in pattern.finditer(text):
            before = _words_before(text, match.start())
            if not _wanted(before) or _someone_else(before):
                continue
            return name
    return None


def asks_for_person(message: str) -> bool:
    """Return whether the customer asks, in words, to be put in touch with a person from support."""
    return handoff_cue(message) is not None


def _clauses(words: Sequence[str]) -> list[list[str]]:
    """Return the words split at clause marks."""
    clauses: list[list[str]] = [[]]
    for word in words:
        if word in _CLAUSE_MARKS:
            clauses.append([])
        else:
            clauses[-1].append(word)
    return [clause for clause in clauses if clause]


def _words_before(text: str, start: int) -> list[str]:
    """Return the words of the clause before a match, from its last clause mark or "but"."""
    before = text[:start].split()
    for index in range(len(before) - 1, -1, -1):
        if before[index] in _CLAUSE_MARKS or before[index] == "but":
            return before[index + 1:]
    return before


def _wanted(before: Sequence[str]) -> bool:
    """Return whether nothing earlier in the clause refuses, dismisses or supposes the request."""
    if before and before[-1] in _NOUN_MARKERS:  # "my previous chat with an agent": a noun, not a verb
        return False
    for index, word in enumerate(before):
        if word in _NEGATORS and not (word == "not" and index and before[index - 1] in _COMPLAINING_NOT):
            return False
    clause = " ".join(before)
    return not (_HYPOTHETICAL.search(clause) or _DISMISSAL.search(clause))


def _someone_else(before: Sequence[str]) -> bool:
    """Return whether a third party (the driver, a neighbour) is the one who would talk."""
    return not _THIRD_PARTIES.isdisjoint(before[-_THIRD_PARTY_REACH:])

