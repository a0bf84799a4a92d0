"""Who owns what a request starts: the id of the API key it presents (never the key itself)."""

from __future__ import annotations

from app.security.api_keys import key_id, valid_key


def requesting_key_id() -> str | None:
    """Return the id of the valid API key this request presents; None when API keys are not configured."""
    key = valid_key()  # require_api_key has already refused a request without one, when keys are configured
    return key_id(key) if key is not None else None
