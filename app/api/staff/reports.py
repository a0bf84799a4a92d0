"""What the support team reads: /api/v1/staff/questions (agents), /stats and /export (admins).

Each takes a period of UTC days, `from` and `to` (YYYY-MM-DD, both included; by default
the last DEFAULT_DAYS days up to today), at most LONGEST_PERIOD days long.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from flask import Response, jsonify, request, stream_with_context

from app.api.staff import staff_bp
from app.api.staff.faqs import page_argument
from app.errors import InvalidRequest
from app.security.staff_auth import staff_required
from app.services import analytics_service, export_service
from app.services.analytics import QUESTION_KINDS
from app.services.export import FORMATS

DEFAULT_DAYS = 30
LONGEST_PERIOD = 366  # days
LARGEST_PAGE = 100_000
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9999, 12, 30)  # the day after the last must exist too
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@staff_bp.get("/questions")
@staff_required("agent")
def list_questions() -> Response:
    """List the customer questions that went wrong in a way (`kind`), grouped, the largest group first."""
    kind = choice_argument("kind", QUESTION_KINDS)
    first_day, last_day = period_arguments()
    page = page_argument("page", LARGEST_PAGE, 1)
    return jsonify(analytics_service().questions(kind, first_day, last_day, page))


@staff_bp.get("/stats")
@staff_required("admin")
def stats() -> Response:
    """Return the period's exact counts, in all and per day."""
    first_day, last_day = period_arguments()
    return jsonify(analytics_service().stats(first_day, last_day))


@staff_bp.get("/export")
@staff_required("admin")
def export() -> Response:
    """Stream every conversation of the period, as JSON Lines (one conversation a line) or CSV (one message a row)."""
    first_day, last_day = period_arguments()
    kind = choice_argument("format", FORMATS, default="jsonl")
    exporter = export_service()
    lines = exporter.jsonl(first_day, last_day) if kind == "jsonl" else exporter.csv(first_day, last_day)
    filename = f"conversations-{first_day.isoformat()}-{last_day.isoformat()}.{kind}"
    return Response(
        stream_with_context(lines),
        mimetype=MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def choice_argument(name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    """Return a query argument that must be one of `choices` (required unless there is a default)."""
    raw = request.args.get(name, default)
    if raw not in choices:
        raise InvalidRequest(f'"{name}" must be one of {", ".join(choices)}.', extra={"field": name})
    return raw


def period_arguments() -> tuple[date, date]:
    """Return the period of ?from= and ?to= (UTC days, both included); the last DEFAULT_DAYS days by default."""
    today = datetime.now(timezone.utc).date()
    last_day = date_argument("to") or today
    first_day = date_argument("from") or last_day - timedelta(days=DEFAULT_DAYS - 1)
    if first_day > last_day:
        raise InvalidRequest('"from" must not be after "to".', extra={"field": "from"})
    if (last_day - first_day).days + 1 > LONGEST_PERIOD:
        raise InvalidRequest(f'"from" and "to" may span at most {LONGEST_PERIOD} days.', extra={"field": "from"})
    return first_day, last_day


def date_argument(name: str) -> date | None:
    """Return a query argument that must be a date, YYYY-MM-DD; None when it is absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = date.fromisoformat(raw) if _DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None or not EARLIEST_DAY <= value <= LATEST_DAY:
        raise InvalidRequest(f'"{name}" must be a date, YYYY-MM-DD, from 1970-01-01 to 9999-12-30.', extra={"field": name})
    return value
