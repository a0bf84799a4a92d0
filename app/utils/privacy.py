"""Keep personal data out of the logs, and card numbers out of everything: mask them in text, hash addresses.

Card numbers (PCI): 13 to 19 digits, in groups joined by spaces, dashes, dots or slashes
(or not at all), that pass the Luhn check every card number passes. They become
`[card ending 1234]`: the last four digits, which PCI DSS allows to be kept and show,
let a customer and an agent tell cards apart. About one in ten other numbers of that
length passes the Luhn check by chance and is masked too; we prefer masking a long
order number by mistake to keeping a card number. Shorter numbers (orders, phones,
dates) are never touched.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Digit groups joined by up to three separator characters: where card numbers hide.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ .\-/\u00a0]{1,3}\d+)*")
_GROUP = re.compile(r"\d+")
CARD_DIGITS = range(13, 20)
# A phone number: an optional +, then 7 to 15 digits with common separators.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,18}\d(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses, card numbers and phone numbers in a text with placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = mask_card_numbers(text)
    return _PHONE.sub(_phone_or_not, text)


def mask_card_numbers(text: str) -> str:
    """Replace every card number in a text, in any separator style, with `[card ending <last four>]`."""
    return _DIGIT_GROUPS.sub(_mask_cards_in_run, text)


def _mask_cards_in_run(run: re.Match[str]) -> str:
    """Mask the card numbers in a run of digit groups: from each group on, the longest Luhn-valid stretch."""
    groups = list(_GROUP.finditer(run.group()))
    text, kept_until, pieces = run.group(), 0, []
    start = 0
    while start < len(groups):
        end = _longest_card(groups, start)
        if end is None:
            start += 1
            continue
        last_four = "".join(group.group() for group in groups[start:end + 1])[-4:]
        pieces += [text[kept_until:groups[start].start()], f"[card ending {last_four}]"]
        kept_until, start = groups[end].end(), end + 1
    return "".join([*pieces, text[kept_until:]])


def _longest_card(groups: list[re.Match[str]], start: int) -> int | None:
    """Return the last group of the longest card number that starts at `start`, if one does."""
    found, digits = None, ""
    for end in range(start, len(groups)):
        digits += groups[end].group()
        if len(digits) > CARD_DIGITS[-1]:
            break
        if len(digits) in CARD_DIGITS and passes_luhn(digits):
            found = end
    return found


def passes_luhn(digits: str) -> bool:
    """Return whether a string of digits passes the Luhn check (as every card number does)."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _phone_or_not(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(character.isdigit() for character in text)
    return "[phone]" if 7 <= digits <= 15 and not _DATE.fullmatch(text.strip()) else text


def hash_address(address: str | None, salt: str) -> str | None:
    """Return a stable, salted hash of a client address (the same client keeps the same hash)."""
    if address is None:
        return None
    return hmac.new(salt.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]
