"""Estimate how many tokens DeepSeek will count for a text, without its tokenizer.

DeepSeek documents roughly 0.3 token per English character and 0.6 per Chinese
character; its byte-level tokenizer spends more on scripts it saw less (Cyrillic,
Arabic, Devanagari, ...) and most on emoji and other four-byte characters, which
can take several tokens each. The weights below are those figures rounded up, so
the estimate errs high: a history cut by it never costs more than its budget. We
do not ship DeepSeek's tokenizer (a large download, and it changes between models);
an estimate is enough to bound what is resent.
"""

from __future__ import annotations

import math
import re

# Role markers and separators DeepSeek adds around every message of a conversation.
MESSAGE_OVERHEAD_TOKENS = 4

# (characters, tokens per character); anything else costs OTHER_SCRIPT_WEIGHT.
_WEIGHTS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"[A-Za-z \t\r\n]"), 0.3),  # English words and spaces
    (re.compile(r"[\x21-\x40\x5b-\x60\x7b-\x7e\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"), 0.5),  # digits, punctuation
    (re.compile(r"[\u0080-\u024f]"), 0.5),  # accented Latin letters and Latin-1 signs
    (re.compile(r"[\u2e80-\u303f\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"), 0.7),  # CJK, kana, hangul
    (re.compile(r"[\u2000-\u2bff\ufe00-\ufe0f]"), 2.0),  # symbols, dingbats, joiners, emoji variation selectors
    (re.compile(r"[\U00010000-\U0010ffff]"), 3.0),  # emoji and other four-byte characters
)
OTHER_SCRIPT_WEIGHT = 1.0  # Cyrillic, Greek, Arabic, Hebrew, Indic, Thai, ...


def estimate_tokens(text: str) -> int:
    """Return a conservative estimate of the tokens DeepSeek counts for a text."""
    total, counted = 0.0, 0
    for characters, weight in _WEIGHTS:
        found = len(characters.findall(text))
        total += found * weight
        counted += found
    return math.ceil(total + (len(text) - counted) * OTHER_SCRIPT_WEIGHT)


def estimate_message_tokens(content: str) -> int:
    """Return the estimated tokens of one message of a conversation, its role markers included."""
    return estimate_tokens(content) + MESSAGE_OVERHEAD_TOKENS
