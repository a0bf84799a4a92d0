"""Timestamps as the API writes them: ISO-8601, UTC, milliseconds, with the offset."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import overload


@overload
def iso(moment: datetime) -> str: ...


@overload
def iso(moment: None) -> None: ...


def iso(moment: datetime | None) -> str | None:
    """Format a stored timestamp as ISO-8601 UTC with its offset (None, a time not set, stays None)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds") if moment is not None else None
