"""Helpers for the browser tests of the chat page: open it, ask, find the bubbles."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

STORAGE_KEY = "greengrocer.conversationId"
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
