"""The token estimate that bounds the history sent to DeepSeek: conservative, and dearer for CJK and emoji."""

from __future__ import annotations

import pytest

from app.services.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_message_tokens, estimate_tokens

ENGLISH = "Our delivery hours are 8 AM to 8 PM EST, Monday through Saturday. " * 10
CHINESE = "我们的配送时间是周一至周六上午八点到晚上八点，周日上午十点到下午六点。" * 10


def test_nothing_costs_nothing_and_a_message_costs_its_overhead():
    assert estimate_tokens("") == 0
    assert estimate_message_tokens("") == MESSAGE_OVERHEAD_TOKENS


def test_the_estimate_is_at_least_deepseeks_published_ratios():
    # DeepSeek: about 0.3 token per English character and 0.6 per Chinese character.
    assert estimate_tokens(ENGLISH) >= 0.3 * len(ENGLISH)
    assert estimate_tokens(CHINESE) >= 0.6 * len(CHINESE)


@pytest.mark.parametrize(
    ("dearer", "cheaper"),
    [
        ("配送时间", "hour"),  # CJK costs more per character than English letters
        ("🥬🥬🥬🥬", "配送时间"),  # emoji (four UTF-8 bytes each) cost more still
        ("Доставка", "Delivery"),  # other scripts cost more than English
        ("12345678", "abcdefgh"),  # digits and punctuation split into more tokens than words
        ("❤️❤️", "ab"),  # symbols with variation selectors
    ],
)
def test_characters_that_cost_more_tokens_are_estimated_higher(dearer, cheaper):
    assert len(dearer) <= len(cheaper) or dearer.startswith("❤")
    assert estimate_tokens(dearer) > estimate_tokens(cheaper)


def test_every_character_counts_and_the_estimate_rounds_up():
    assert estimate_tokens("a") == 1
    assert estimate_tokens("ab" * 100) >= 60
    assert estimate_tokens("x" * 1000 + "🥬") > estimate_tokens("x" * 1000)
