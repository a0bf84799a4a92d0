"""The admin page in headless Chromium, against a live server: sign-in, the FAQ editor, what went wrong, the chart.

Each test's page is watched (tests/browser/conftest.py): no console error, no uncaught
exception, no CSP violation, no dialog (deleting asks in the page) and no request leaving 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import HTTP_STATUS_NOTE, TOKEN_KEY, answers, call, open_chat, stored_conversation_id
from tests.browser.pages import ask as ask_on_the_chat_page
from tests.deepseek_standin import Reply
from tests.staff import add_staff, staff_command


@pytest.fixture
def admin(live_app) -> tuple[str, str]:
    """The live server's base URL and an admin's token."""
    app, base_url = live_app
    return base_url, add_staff(app, "Ada", "admin")


def submit_token(page: Page, token: str) -> None:
    page.get_by_label("Staff token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, base_url: str, token: str) -> None:
    page.goto(base_url + "/admin")
    submit_token(page, token)
    expect(page.locator("#who")).to_have_text("Signed in as Ada (admin)")
    expect(page.locator("#faq-rows tr")).not_to_have_count(0)  # every first call answered
    expect(page.locator("#numbers-status")).not_to_have_text("Loading the numbers…")
    expect(page.locator("#questions-status")).not_to_have_text("Loading…")


def faq_row(page: Page, faq_id: str):
    return page.locator(f'#faq-rows tr[data-faq-id="{faq_id}"]')


def test_an_admin_signs_in_the_token_stays_in_this_tab_only_and_signing_out_forgets_it(admin, page):
    base_url, token = admin

    sign_in(page, base_url, token)

    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    assert page.evaluate("localStorage.length") == 0
    expect(page.locator("#faq-rows tr")).not_to_have_count(0)
    page.reload()  # the tab keeps the session
    expect(page.locator("#who")).to_have_text("Signed in as Ada (admin)")
    expect(faq_row(page, "delivery-hours")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_label("Staff token")).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_an_agent_is_told_the_page_is_for_admins_and_a_wrong_token_is_refused(live_app, page, watch):
    app, base_url = live_app
    agent_token = add_staff(app, "Grace", "agent")
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=401))
    page.goto(base_url + "/admin")

    submit_token(page, "not-a-token")
    expect(page.locator("#sign-in-status")).to_have_text("That token was not accepted. Check it and try again.")

    submit_token(page, agent_token)
    expect(page.locator("#sign-in-status")).to_have_text("This page is for admins.")
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_a_revoked_token_ends_the_session_at_the_next_call(live_app, page, watch):
    app, base_url = live_app
    token = add_staff(app, "Ada", "admin")
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=401))
    sign_in(page, base_url, token)
    result = staff_command(app, "revoke", "Ada")
    assert result.exit_code == 0, result.output

    page.get_by_role("button", name="Search").click()

    expect(page.locator("#sign-in-status")).to_have_text("You were signed out: your token is no longer valid.")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_an_faq_entry_is_edited_then_deleted_after_a_confirmation_and_customers_see_each_change(admin, page):
    base_url, token = admin
    sign_in(page, base_url, token)
    page.get_by_label("Search", exact=True).fill("delivery hours")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#faq-rows tr")).to_have_count(1)
    row = faq_row(page, "delivery-hours")
    expect(row.locator(".faq__hits")).to_have_text("0")
    expect(row.locator(".faq__last-hit")).to_have_text("never")

    row.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Id", exact=True)).to_have_value("delivery-hours")
    expect(page.get_by_label("Phrasings, one a line")).to_have_value(re.compile(r"^What are your delivery hours\?\n"))
    page.get_by_label("Answer", exact=True).fill("We deliver from 7 AM to 9 PM every day.")
    page.get_by_label("Tags, separated by commas").fill("delivery, hours")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#faq-status")).to_contain_text("Saved “delivery-hours”")
    expect(page.locator("#faq-editor")).to_be_hidden()
    expect(row.locator(".faq__answer")).to_have_text("We deliver from 7 AM to 9 PM every day.")
    expect(row.locator(".faq__tags")).to_have_text("Tags: delivery, hours")
    status, answer = call(base_url, "POST", "/api/v1/chat", {"message": "What are your delivery hours?"})
    assert status == 200 and answer["source"] == "faq"
    assert answer["content"] == "We deliver from 7 AM to 9 PM every day."
    page.get_by_role("button", name="Search").click()  # the hit shows
    expect(row.locator(".faq__hits")).to_have_text("1")
    expect(row.locator(".faq__last-hit")).to_contain_text("UTC")

    row.get_by_role("button", name="Delete").click()
    expect(row.locator(".faq__confirm")).to_have_text("Delete “delivery-hours” for good?")
    row.get_by_role("button", name="Keep").click()
    expect(row.get_by_role("button", name="Edit")).to_be_visible()
    assert call(base_url, "GET", "/api/v1/staff/faqs/delivery-hours", token=token)[0] == 200

    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Yes, delete").click()

    expect(page.locator("#faq-status")).to_have_text("Deleted “delivery-hours”. No entry contains “delivery-hours”.")
    expect(page.locator("#faq-rows tr")).to_have_count(0)
    assert call(base_url, "GET", "/api/v1/staff/faqs/delivery-hours", token=token)[0] == 404
    status, answer = call(base_url, "POST", "/api/v1/chat", {"message": "What are your delivery hours?"})
    assert answer["source"] != "faq" or answer["content"] != "We deliver from 7 AM to 9 PM every day."


def test_a_new_entry_the_server_refuses_shows_the_error_next_to_the_field_it_names(admin, page, watch):
    base_url, token = admin
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=400))
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=409))
    sign_in(page, base_url, token)
    page.get_by_role("button", name="New entry").click()
    expect(page.get_by_role("heading", name="New FAQ entry")).to_be_visible()

    page.get_by_label("Phrasings, one a line").fill("Do you sell gift cards?\n??")
    page.get_by_label("Answer", exact=True).fill("Yes, from 10 to 200 dollars.")
    page.get_by_role("button", name="Save").click()

    phrasings = page.get_by_label("Phrasings, one a line")
    expect(page.locator("#faq-phrasings-error")).to_contain_text("has no words")
    expect(phrasings).to_have_attribute("aria-invalid", "true")
    expect(phrasings).to_be_focused()
    expect(page.locator("#faq-answer-error")).to_be_empty()

    page.get_by_label("Id", exact=True).fill("delivery-hours")  # taken
    phrasings.fill("Do you sell gift cards?")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#faq-id-error")).not_to_be_empty()
    expect(phrasings).not_to_have_attribute("aria-invalid", "true")
    assert call(base_url, "GET", "/api/v1/staff/faqs?q=gift", token=token)[1]["total"] == 0  # nothing changed

    page.get_by_label("Id", exact=True).fill("")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#faq-status")).to_contain_text("Saved “do-you-sell-gift-cards”")
    expect(faq_row(page, "do-you-sell-gift-cards")).to_be_visible()
    status, answer = call(base_url, "POST", "/api/v1/chat", {"message": "Do you sell gift cards?"})
    assert (answer["source"], answer["content"]) == ("faq", "Yes, from 10 to 200 dollars.")


def ask(base_url: str, question: str, conversation_id: str | None = None) -> dict[str, Any]:
    """Ask the chatbot as a customer; return the 200 answer."""
    body = {"message": question, **({"conversation_id": conversation_id} if conversation_id else {})}
    status, answer = call(base_url, "POST", "/api/v1/chat", body)
    assert status == 200, answer
    return answer


def test_an_answer_rated_down_is_found_on_the_admin_page_answered_and_the_next_customer_gets_it(admin, page, standin):
    base_url, token = admin
    question = "Can I bring my dog into the store?"
    curated = "Only service animals, please: other pets wait outside."
    standin.push(Reply(content="Of course, dogs love our store!"))
    open_chat(page, base_url)
    ask_on_the_chat_page(page, question)
    answer = answers(page).nth(0)
    expect(answer).to_have_attribute("data-source", "llm")
    answer.get_by_role("button", name="Not helpful").click()
    answer.get_by_label("What was wrong with this answer? (optional)").fill("Wrong: your sign says no dogs.")
    answer.locator(".feedback__form").get_by_role("button", name="Send").click()
    expect(answer.locator(".feedback__note")).to_have_text("Thank you for your feedback.")
    conversation_id = stored_conversation_id(page)

    sign_in(page, base_url, token)
    expect(page.get_by_role("tab", name="Rated down")).to_have_attribute("aria-selected", "true")
    found = page.locator("#questions > li", has_text=question)
    expect(found.locator(".question__meta")).to_contain_text("Asked 1 time")
    expect(found.locator(".example__comment")).to_have_text("Comment: Wrong: your sign says no dogs.")
    expect(found.locator(".example__answer")).to_contain_text("Of course, dogs love our store!")

    found.get_by_role("button", name="Write the answer").click()
    expect(page.get_by_label("Phrasings, one a line")).to_have_value(question)
    expect(page.locator("#editor-origin")).to_contain_text(question)
    expect(page.get_by_label("Answer", exact=True)).to_be_focused()
    page.get_by_label("Answer", exact=True).fill(curated)
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#faq-status")).to_contain_text("Saved “can-i-bring-my-dog-into-the-store”")
    entry = faq_row(page, "can-i-bring-my-dog-into-the-store")
    expect(entry.locator(".faq__answer")).to_have_text(curated)
    status, saved = call(base_url, "GET", "/api/v1/staff/faqs/can-i-bring-my-dog-into-the-store", token=token)
    assert saved["from_conversation_id"] == conversation_id
    next_customer = ask(base_url, question)
    assert (next_customer["source"], next_customer["content"]) == ("faq", curated)
    assert len(standin.requests) == 1  # DeepSeek was asked the first time only


def test_the_numbers_of_a_period_with_data_are_drawn_per_day_and_exported(admin, page, standin):
    base_url, token = admin
    conversation = ask(base_url, "What are your delivery hours?")["conversation_id"]
    ask(base_url, "How do I get a refund?", conversation)
    standin.push(Reply(content="We stock organic kale every day."))
    ask(base_url, "Do you sell organic kale?")
    today = datetime.now(timezone.utc).date()

    sign_in(page, base_url, token)

    expect(page.get_by_label("From", exact=True)).to_have_value((today - timedelta(days=6)).isoformat())
    expect(page.get_by_label("To", exact=True)).to_have_value(today.isoformat())
    expect(page.locator('#totals [data-stat="conversations"] dd')).to_have_text("2")
    expect(page.locator('#totals [data-stat="customer_messages"] dd')).to_have_text("3")
    expect(page.locator('#totals [data-stat="deflection_rate"] dd')).to_have_text("100%")
    expect(page.locator('#totals [data-stat="answers"] dd')).to_contain_text("FAQ 2 · AI assistant 1")
    days = page.locator("#chart g.chart__day")
    expect(days).to_have_count(7)
    todays = page.locator(f'#chart g.chart__day[data-date="{today.isoformat()}"]')
    expect(todays.locator('rect[data-source="faq"]')).to_have_attribute("data-count", "2")
    expect(todays.locator('rect[data-source="llm"]')).to_have_attribute("data-count", "1")
    assert page.locator("#chart rect.chart__bar").count() == 2  # nothing on the other days
    expect(page.locator(f'#chart circle.chart__dot[data-date="{today.isoformat()}"]')).to_have_count(1)
    expect(page.locator("#chart polyline.chart__line")).to_have_count(1)
    faq_bar = todays.locator('rect[data-source="faq"]').bounding_box()
    llm_bar = todays.locator('rect[data-source="llm"]').bounding_box()
    assert llm_bar["y"] + llm_bar["height"] <= faq_bar["y"] + 1 and faq_bar["height"] > llm_bar["height"]  # stacked

    page.get_by_label("From", exact=True).fill((today - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(days).to_have_count(2)

    page.get_by_label("Export", exact=True).select_option("csv")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    saved = download.value
    assert saved.suggested_filename == f"conversations-{(today - timedelta(days=1)).isoformat()}-{today.isoformat()}.csv"
    exported = Path(saved.path()).read_text(encoding="utf-8")
    assert "How do I get a refund?" in exported and "We stock organic kale every day." in exported


def test_a_period_the_server_refuses_marks_its_date(admin, page, watch):
    base_url, token = admin
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=400))
    sign_in(page, base_url, token)
    expect(page.locator('#totals [data-stat="conversations"] dd')).to_have_text("0")
    expect(page.locator("#numbers-status")).to_have_text("No conversations in this period.")

    page.get_by_label("From", exact=True).fill("2026-12-31")
    page.get_by_label("To", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#numbers-status")).to_have_text('"from" must not be after "to".')
    expect(page.get_by_label("From", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#chart svg")).to_have_count(0)


def test_the_tabs_show_each_kind_of_question_and_the_arrow_keys_move_between_them(admin, page, standin):
    base_url, token = admin
    standin.push(Reply(status=503), Reply(status=503), Reply(status=503))  # the first try and both retries
    status, failed = call(base_url, "POST", "/api/v1/chat", {"message": "Do you sell organic kale?"})
    assert status == 503, failed
    sign_in(page, base_url, token)
    expect(page.locator("#questions-status")).to_have_text("Nothing of this kind in this period.")

    page.get_by_role("tab", name="Rated down").focus()
    page.keyboard.press("ArrowLeft")  # round to the last tab

    failed_tab = page.get_by_role("tab", name="Failed")
    expect(failed_tab).to_have_attribute("aria-selected", "true")
    expect(failed_tab).to_be_focused()
    expect(page.get_by_role("tab", name="Rated down")).to_have_attribute("aria-selected", "false")
    found = page.locator("#questions > li", has_text="Do you sell organic kale?")
    expect(found.locator(".example__answer")).to_have_text("No answer (UPSTREAM_BUSY)")

    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Rated down")).to_be_focused()
    expect(page.locator("#questions > li")).to_have_count(0)
