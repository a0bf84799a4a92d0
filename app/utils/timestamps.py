"""Timestamps as the API writes them: ISO-8601, UTC, milliseconds, with the offset."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime) -> str:
    """Format a stored timestamp as ISO-8601 UTC with its offset."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
