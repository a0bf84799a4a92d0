"""Helpers for the browser tests: the chat page (open it, ask, find the bubbles), and calls to the live server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.staff import bearer

STORAGE_KEY = "greengrocer.conversationId"
TOKEN_KEY = "greengrocer.staffToken"  # where staff.js keeps the staff token (sessionStorage)
# Chromium's own console line for a response with an error status (the page shows the friendly text).
HTTP_STATUS_NOTE = r"Failed to load resource: the server responded with a status of {status}\b"


def open_chat(page: Page, base_url: str) -> None:
    """Open the chat page and wait until it can send."""
    page.goto(base_url + "/")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def ask(page: Page, question: str) -> None:
    """Type a question and press Enter."""
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def bubbles(page: Page) -> Locator:
    """Every message of the conversation log."""
    return page.locator("#conversation > li")


def answers(page: Page) -> Locator:
    """The bot's answers (and the handoff message)."""
    return page.locator("#conversation > li.message--assistant")


def text_of(item: Locator) -> Locator:
    """The text of one bubble."""
    return item.locator(".message__text")


def stored_conversation_id(page: Page) -> str | None:
    """The conversation id the page keeps in localStorage."""
    return page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')")


def call(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """Send one JSON request to the live server; return the status and the decoded body (None if empty)."""
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None
