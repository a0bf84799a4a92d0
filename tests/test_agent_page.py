"""The agent console at /agent: what it holds. What every page shares is tested in test_pages.py; what the console
does in a browser, in tests/browser/test_handoff.py.
"""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def html(client):
    return client.get("/agent").get_data(as_text=True)


def test_the_token_field_is_a_labelled_password_field_the_browser_does_not_remember(html):
    assert '<label for="token">' in html
    assert re.search(r'<input id="token"[^>]*type="password"[^>]*autocomplete="off"', html)
    assert "<title>GreenGrocer Foods agent console</title>" in html


def test_the_staff_token_is_kept_in_session_storage_never_local_storage(client):
    script = client.get("/static/staff.js").get_data(as_text=True)

    assert "sessionStorage.setItem" in script and "localStorage." not in script
    assert "Authorization" in script
