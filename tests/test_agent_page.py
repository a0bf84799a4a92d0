"""The agent console at /agent: served from files under the strict CSP, outside the API's rate limit.

What the console does in a browser is tested in tests/browser/test_handoff.py.
"""

from __future__ import annotations

import re

import pytest

SCRIPTS = ["api.js", "staff.js", "agent.js"]


@pytest.fixture
def console(client):
    response = client.get("/agent")
    return response, response.get_data(as_text=True)


def test_the_console_is_html_under_the_strict_csp(console):
    response, _ = console

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "X-RateLimit-Limit" not in response.headers


def test_the_console_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere(console):
    _, html = console

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html and "style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None
    assert "http://" not in html and "https://" not in html
    assert re.findall(r'<script src="/static/([a-z]+\.js)" defer></script>', html) == SCRIPTS
    assert re.findall(r'<link rel="stylesheet" href="/static/([a-z]+\.css)">', html) == ["base.css", "agent.css"]


def test_the_token_field_is_a_labelled_password_field_the_browser_does_not_remember(console):
    _, html = console

    assert '<label for="token">' in html
    assert re.search(r'<input id="token"[^>]*type="password"[^>]*autocomplete="off"', html)


def test_the_console_tells_its_scripts_where_the_api_is(client):
    html = client.get("/agent", base_url="http://localhost/support/").get_data(as_text=True)

    assert 'data-api="/support/api/v1"' in html
    assert 'src="/support/static/agent.js"' in html


@pytest.mark.parametrize("name", [*SCRIPTS, "feedback.js", "base.css", "agent.css"])
def test_the_scripts_are_served_and_never_write_html(client, name):
    response = client.get(f"/static/{name}")
    text = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "innerHTML" not in text and "outerHTML" not in text
    assert "insertAdjacentHTML" not in text and "document.write" not in text


def test_the_staff_token_is_kept_in_session_storage_never_local_storage(client):
    script = client.get("/static/staff.js").get_data(as_text=True)

    assert "sessionStorage.setItem" in script and "localStorage." not in script
    assert "Authorization" in script
