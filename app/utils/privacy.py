"""Keep personal data out of the logs: mask it in text, hash client addresses."""

from __future__ import annotations

import hashlib
import hmac
import re

# A card number: 13 to 19 digits, optionally grouped by spaces or dashes.
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# A phone number: an optional +, then 7 to 15 digits with common separators.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,18}\d(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses, card numbers and phone numbers in a text with placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = _CARD.sub("[card]", text)
    return _PHONE.sub(_phone_or_not, text)


def _phone_or_not(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(character.isdigit() for character in text)
    return "[phone]" if 7 <= digits <= 15 and not _DATE.fullmatch(text.strip()) else text


def hash_address(address: str | None, salt: str) -> str | None:
    """Return a stable, salted hash of a client address (the same client keeps the same hash)."""
    if address is None:
        return None
    return hmac.new(salt.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]
