"""Helpers for the handoff tests: a conversation handed off, a staff member's requests, the transcript's events."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.staff import bearer

WORDS = "can I talk to a human please"
STRANGE_QUESTION = "Tell me about zorblax quantum parsnips."  # matches no FAQ entry, not even as a fallback


def new_conversation(client: FlaskClient, message: str = "Do you sell organic kale?") -> str:
    """Start a conversation with a question the bot answers; return its id."""
    response = client.post("/api/v1/chat", json={"message": message})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["conversation_id"]


def handed_off(client: FlaskClient, reason: str | None = None) -> str:
    """Start a conversation and press "Talk to a person"; return its id."""
    conversation_id = new_conversation(client)
    body = {"reason": reason} if reason else None
    response = client.post(f"/api/v1/conversations/{conversation_id}/handoff", json=body)
    assert response.status_code == 200, response.get_json()
    return conversation_id


def staff_call(client: FlaskClient, method: str, path: str, token: str, body: dict[str, Any] | None = None):
    """Send a staff request to /api/v1/staff<path> with the token."""
    return client.open(f"/api/v1/staff{path}", method=method, json=body, headers=bearer(token))


def events_of(client: FlaskClient, conversation_id: str) -> list[tuple[str, str]]:
    """Return the customer's view of a conversation's events: (event, state), in order."""
    messages = client.get(f"/api/v1/conversations/{conversation_id}").get_json()["messages"]
    return [(message["event"], message["state"]) for message in messages if message["role"] == "event"]
