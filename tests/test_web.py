"""The chat page at /: served from files under the strict CSP, outside the API's rate limit.

What the page does in a browser is tested in tests/browser/.
"""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def page(client):
    response = client.get("/")
    return response, response.get_data(as_text=True)


def test_the_chat_page_is_html_under_the_strict_csp(page):
    response, _ = page

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere(page):
    _, html = page

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # every script is a file
    assert "<style" not in html and "style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    assert "http://" not in html and "https://" not in html
    scripts = re.findall(r'<script src="/static/([a-z]+\.js)" defer></script>', html)
    assert scripts == ["api.js", "feedback.js", "chat.js"]  # chat.js uses the other two
    assert re.findall(r'<link rel="stylesheet" href="/static/([a-z]+\.css)">', html) == ["base.css", "chat.css"]


def test_the_page_is_labelled_for_screen_readers(app, page):
    _, html = page

    assert '<label for="message"' in html and 'id="message"' in html
    assert re.search(r'<ol id="conversation"[^>]*aria-live="polite"', html)
    assert f'maxlength="{app.config["MAX_MESSAGE_CHARS"]}"' in html
    assert re.search(r'<p id="handoff-state"[^>]*role="status"', html)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_the_page_tells_the_script_where_the_api_is(client):
    html = client.get("/", base_url="http://localhost/support/").get_data(as_text=True)

    assert 'data-api="/support/api/v1"' in html
    assert 'src="/support/static/chat.js"' in html


@pytest.mark.parametrize(
    "path",
    ["/static/api.js", "/static/feedback.js", "/static/chat.js", "/static/base.css", "/static/chat.css", "/static/favicon.svg"],
)
def test_the_page_assets_are_served(client, path):
    assert client.get(path).status_code == 200


def test_the_chat_script_never_writes_html(client):
    script = client.get("/static/chat.js").get_data(as_text=True)

    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script


def test_loading_the_page_costs_none_of_the_api_rate_limit(client):
    for _ in range(20):
        page = client.get("/")
        assert page.status_code == 200
        assert "X-RateLimit-Limit" not in page.headers

    statuses = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(5)]

    assert statuses == [200] * 5  # TestingConfig: 5 per minute, all still available
