"""The benchmark's ceiling: a bare Flask route that returns the same JSON as an FAQ answer.

No security headers, limiter, logging, metrics, database or FAQ matching: what Flask and
gunicorn alone cost. Served with the real gunicorn.conf.py:
    gunicorn -c gunicorn.conf.py bench.ceiling:app
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import Flask, Response, jsonify

ANSWER = (
    "Our delivery hours are 8 AM to 8 PM EST, Monday through Saturday, and 10 AM to 6 PM EST on Sunday. "
    "Orders placed before 2 PM EST are delivered the same day."
)
SUPPORT_CONTACT = "support@greengrocerfoods.com or 1-800-555-0142 (8 AM to 8 PM EST)"

app = Flask(__name__)
app.json.sort_keys = False


@app.post("/api/v1/chat")
def chat() -> Response:
    """Return an FAQ-shaped answer, with fresh ids and time as the real one has."""
    return jsonify(
        content=ANSWER,
        source="faq",
        conversation_id=str(uuid.uuid4()),
        metadata={
            "response_id": str(uuid.uuid4()),
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "processing_time": 0.0001,
            "model": None,
            "assistant_version": "1.0.0",
            "support_contact": SUPPORT_CONTACT,
            "error_code": None,
        },
    )


@app.get("/health")
def health() -> Response:
    """Report that the process is up."""
    return jsonify(status="ok")
