"""The admin page at /admin: what it holds. The page itself holds no data: it signs in with a staff token and reads
the staff API. What every page shares is tested in test_pages.py; what it does in a browser, in
tests/browser/test_admin_page.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def html(client):
    return client.get("/admin").get_data(as_text=True)


def test_the_page_holds_no_data_and_asks_for_a_staff_token(html):
    assert '<input id="token" name="token" type="password"' in html
    assert "<title>GreenGrocer Foods support admin</title>" in html


def test_every_field_of_the_faq_editor_has_a_label_and_a_place_for_its_error(html):
    for field in ("id", "phrasings", "answer", "tags"):
        assert f'<label for="faq-{field}">' in html
        assert f'id="faq-{field}-error"' in html


def test_the_admin_script_leaves_the_token_to_the_shared_staff_script(client):
    script = client.get("/static/admin.js").get_data(as_text=True)

    assert "localStorage" not in script and "sessionStorage" not in script  # the token is staff.js's
