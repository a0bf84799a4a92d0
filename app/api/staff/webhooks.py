"""The helpdesk webhook's failed events, for admins: GET /api/v1/staff/webhooks/failed and its retry."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.api.staff import staff_bp
from app.api.v1.schemas import number_argument
from app.errors import WebhookEventNotFound
from app.security.staff_auth import staff_required
from app.services import webhooks_service
from app.storage.models import LARGEST_ROW_ID
from app.utils.timestamps import iso

DEFAULT_PAGE, LARGEST_PAGE = 50, 500


@staff_bp.get("/webhooks/failed")
@staff_required("admin")
def failed_webhooks() -> Response:
    """List the webhook events that were given up on, newest first, a page at a time (?limit=, ?before=<id>)."""
    limit = number_argument("limit", 1, LARGEST_PAGE) or DEFAULT_PAGE
    page = webhooks_service().failures(limit, number_argument("before", 1, LARGEST_ROW_ID))
    next_page = url_for(".failed_webhooks", before=page.events[-1].id, limit=limit) if page.has_more else None
    return jsonify(
        events=[
            {
                "id": event.id,
                "event": event.event,
                "event_id": event.event_id,
                "conversation_id": event.conversation_id,
                "attempts": event.attempts,
                "last_error": event.last_error,
                "created_at": iso(event.created_at),
                "last_attempt_at": iso(event.last_attempt_at),
                "failed_at": iso(event.finished_at),
            }
            for event in page.events
        ],
        has_more=page.has_more,
        next=next_page,
    )


@staff_bp.post("/webhooks/failed/<int:outbox_id>/retry")
@staff_required("admin")
def retry_failed_webhook(outbox_id: int) -> tuple[Response, int]:
    """Queue a failed event again, with a fresh count of attempts; it is sent as soon as its turn comes."""
    if not webhooks_service().retry(outbox_id):
        raise WebhookEventNotFound()
    return jsonify(id=outbox_id, status="pending"), 202

