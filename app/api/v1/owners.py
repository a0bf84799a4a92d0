"""Who owns what a request starts: the id of the API key it presents (never the key itself)."""

from __future__ import annotations

from flask import current_app

from app.security.api_keys import key_id, valid_key


def requesting_key_id() -> str | None:
    """Return the id of the valid API key this request presents; None when API keys are not configured."""
    if not current_app.extensions["api_keys"]:
        return None
    key = valid_key()  # require_api_key has already refused a request without one
    return key_id(key) if key is not None else None
