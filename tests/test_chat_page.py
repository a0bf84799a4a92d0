"""The chat page at /: what it holds. What every page shares is tested in test_pages.py; what the page does in a
browser, in tests/browser/.
"""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def html(client):
    return client.get("/").get_data(as_text=True)


def test_the_page_is_labelled_for_screen_readers(app, html):
    assert '<label for="message"' in html and 'id="message"' in html
    assert re.search(r'<ol id="conversation"[^>]*aria-live="polite"', html)
    assert f'maxlength="{app.config["MAX_MESSAGE_CHARS"]}"' in html
    assert re.search(r'<p id="handoff-state"[^>]*role="status"', html)
    assert "<title>GreenGrocer Foods support chat</title>" in html
