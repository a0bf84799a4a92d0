"""The knowledge base for staff: /api/v1/staff/faqs. Agents read it; admins change it.

GET /faqs lists entries (search, pages) with their hit counts; POST /faqs adds an entry,
or promotes a customer's question (`from_message_id`) into one; GET, PUT and DELETE
/faqs/<id> read, replace and delete one. Entries are validated as the FAQ file is; a
change answers customers on every instance within KB_REFRESH_SECONDS.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request, url_for

from app.api.staff import staff_bp
from app.api.v1.conversations import LARGEST_MESSAGE_ID
from app.api.v1.schemas import clean_text, read_json_object
from app.errors import FaqNotFound, InvalidFaqEntry, InvalidRequest
from app.security.staff_auth import staff_required
from app.services import knowledge_base_service
from app.services.knowledge_base import ListedEntry
from app.utils.timestamps import iso

DEFAULT_PER_PAGE, LARGEST_PER_PAGE = 50, 200
LARGEST_PAGE = 1_000_000
LONGEST_SEARCH = 200
_FAQ_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # the file's id rule: no other id can exist
_WHOLE_NUMBER = re.compile(r"[0-9]{1,7}")


@staff_bp.get("/faqs")
@staff_required("agent")
def list_faqs() -> Response:
    """List the FAQ entries in their order, each with its hit count and last hit; ?q= searches, ?page= pages."""
    search = request.args.get("q", "")
    if len(search) > LONGEST_SEARCH:
        raise InvalidRequest(f'"q" can be at most {LONGEST_SEARCH} characters.')
    search = clean_text(search).strip()
    page = page_argument("page", LARGEST_PAGE, 1)
    per_page = page_argument("per_page", LARGEST_PER_PAGE, DEFAULT_PER_PAGE)
    found = knowledge_base_service().page(search, page, per_page)
    return jsonify(
        faqs=[entry_json(entry) for entry in found.entries], page=page, per_page=per_page, total=found.total
    )


@staff_bp.post("/faqs")
@staff_required("admin")
def create_faq() -> tuple[Response, int, dict[str, str]]:
    """Add an FAQ entry, or promote a customer's question (`from_message_id`) to one; it answers at once."""
    body = read_json_object()
    promoting = "from_message_id" in body
    from_message_id = body.pop("from_message_id", None)
    if promoting and not (type(from_message_id) is int and 1 <= from_message_id <= LARGEST_MESSAGE_ID):
        raise InvalidFaqEntry("from_message_id", "must be the message_id of a customer's question")
    entry = knowledge_base_service().create(body, from_message_id)
    return jsonify(entry_json(entry)), 201, {"Location": url_for(".get_faq", faq_id=entry.record.id)}


@staff_bp.get("/faqs/<faq_id>")
@staff_required("agent")
def get_faq(faq_id: str) -> Response:
    """Return one FAQ entry with its hit count and last hit."""
    return jsonify(entry_json(knowledge_base_service().entry(existing_id(faq_id))))


@staff_bp.put("/faqs/<faq_id>")
@staff_required("admin")
def replace_faq(faq_id: str) -> Response:
    """Replace what an FAQ entry says (phrasings, answer, tags); its id, link and hit history stay."""
    faq_id = existing_id(faq_id)
    return jsonify(entry_json(knowledge_base_service().update(faq_id, read_json_object())))


@staff_bp.delete("/faqs/<faq_id>")
@staff_required("admin")
def delete_faq(faq_id: str) -> Response:
    """Delete an FAQ entry; customers stop getting it within KB_REFRESH_SECONDS."""
    knowledge_base_service().delete(existing_id(faq_id))
    return Response(status=204)


def existing_id(faq_id: str) -> str:
    """Return the id from the address; one no entry can have (the file's rule) is FaqNotFound at once."""
    if not _FAQ_ID.fullmatch(faq_id):
        raise FaqNotFound()
    return faq_id


def page_argument(name: str, highest: int, default: int) -> int:
    """Return a query argument that must be a whole number from 1 to `highest`; the default when absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (_WHOLE_NUMBER.fullmatch(raw) and 1 <= int(raw) <= highest):
        raise InvalidRequest(f'"{name}" must be a whole number from 1 to {highest}.')
    return int(raw)


def entry_json(entry: ListedEntry) -> dict[str, Any]:
    """Write an entry as staff see it: what it says, where it came from, its hits, when it changed."""
    record = entry.record
    return {
        "id": record.id,
        "phrasings": list(record.phrasings),
        "answer": record.answer,
        "tags": list(record.tags),
        "hit_count": entry.hits.count,
        "last_hit_at": iso(entry.hits.last_at),
        "from_message_id": record.from_message_id,
        "from_conversation_id": record.from_conversation_id,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
