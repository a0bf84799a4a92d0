"""The admin page at /admin: served from files under the strict CSP, outside the API's rate limit.

The page itself holds no data: it signs in with a staff token and reads the staff API.
What it does in a browser is tested in tests/browser/test_admin_page.py.
"""

from __future__ import annotations

import re

import pytest

from tests.page_checks import STRICT_CSP, blocked_or_foreign


@pytest.fixture
def page(client):
    response = client.get("/admin")
    return response, response.get_data(as_text=True)


def test_the_admin_page_is_html_under_the_strict_csp(page):
    response, _ = page

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere(page):
    _, html = page

    assert blocked_or_foreign(html) == []
    assert re.findall(r'<link rel="stylesheet" href="/static/([a-z]+\.css)">', html) == ["base.css", "admin.css"]


def test_the_page_holds_no_data_and_asks_for_a_staff_token(client, page):
    _, html = page

    assert '<input id="token" name="token" type="password"' in html
    assert '<meta name="robots" content="noindex">' in html
    assert "X-RateLimit-Limit" not in client.get("/admin").headers  # outside /api/v1's budget


def test_every_field_of_the_faq_editor_has_a_label_and_a_place_for_its_error(page):
    _, html = page

    for field in ("id", "phrasings", "answer", "tags"):
        assert f'<label for="faq-{field}">' in html
        assert f'id="faq-{field}-error"' in html


def test_the_page_tells_the_script_where_the_api_is(client):
    html = client.get("/admin", base_url="http://localhost/support/").get_data(as_text=True)

    assert 'data-api="/support/api/v1"' in html
    assert 'src="/support/static/admin.js"' in html


@pytest.mark.parametrize("path", ["/static/admin.js", "/static/admin.css", "/static/staff.js", "/static/api.js"])
def test_the_page_assets_are_served(client, path):
    assert client.get(path).status_code == 200


def test_the_admin_script_never_writes_html_and_signs_in_with_the_shared_staff_script(client, page):
    _, html = page
    script = client.get("/static/admin.js").get_data(as_text=True)

    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script
    assert "localStorage" not in script and "sessionStorage" not in script  # the token is staff.js's
    scripts = re.findall(r'<script src="/static/([a-z]+\.js)" defer></script>', html)
    assert scripts == ["api.js", "staff.js", "admin.js"]
