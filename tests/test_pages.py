"""What every page (chat at /, agent console at /agent, admin at /admin) shares: the strict CSP, files only,
the API's address under any script root, and no cost to the API's rate limit.

What each page holds is tested in test_chat_page.py, test_agent_page.py and test_admin_page.py; what it does in a
browser, in tests/browser/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.page_checks import STRICT_CSP, blocked_or_foreign


@dataclass(frozen=True)
class Page:
    path: str
    stylesheet: str
    scripts: tuple[str, ...]  # in the order the page loads them
    staff: bool


PAGES = [
    Page("/", "chat.css", ("api.js", "feedback.js", "chat.js"), staff=False),
    Page("/agent", "agent.css", ("api.js", "staff.js", "agent.js"), staff=True),
    Page("/admin", "admin.css", ("api.js", "staff.js", "admin.js"), staff=True),
]


@pytest.fixture(params=PAGES, ids=[page.path for page in PAGES])
def page(request):
    return request.param


def test_every_page_is_html_under_the_strict_csp(client, page):
    response = client.get(page.path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == STRICT_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_every_page_loads_its_files_in_order_and_nothing_inline_or_from_elsewhere(client, page):
    html = client.get(page.path).get_data(as_text=True)

    assert blocked_or_foreign(html) == []
    assert re.findall(r'<script src="/static/([a-z]+\.js)" defer></script>', html) == list(page.scripts)
    assert re.findall(r'<link rel="stylesheet" href="/static/([a-z]+\.css)">', html) == ["base.css", page.stylesheet]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html


def test_only_the_staff_pages_ask_not_to_be_indexed(client, page):
    html = client.get(page.path).get_data(as_text=True)

    assert ('<meta name="robots" content="noindex">' in html) is page.staff
    assert ('<meta name="referrer" content="no-referrer">' in html) is page.staff


def test_every_page_tells_its_scripts_where_the_api_is_under_any_script_root(client, page):
    html = client.get(page.path, base_url="http://localhost/support/").get_data(as_text=True)

    assert 'data-api="/support/api/v1"' in html
    assert f'src="/support/static/{page.scripts[-1]}"' in html
    assert 'href="/support/static/base.css"' in html


def test_every_file_of_a_page_is_served_and_no_script_writes_html(client, page):
    for name in (*page.scripts, "base.css", page.stylesheet, "favicon.svg"):
        response = client.get(f"/static/{name}")
        text = response.get_data(as_text=True)

        assert response.status_code == 200, name
        assert "innerHTML" not in text and "outerHTML" not in text, name
        assert "insertAdjacentHTML" not in text and "document.write" not in text, name


def test_loading_a_page_costs_none_of_the_api_rate_limit(client, page):
    for _ in range(20):
        response = client.get(page.path)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers

    statuses = [client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code for _ in range(5)]

    assert statuses == [200] * 5  # TestingConfig: 5 per minute, all still available
