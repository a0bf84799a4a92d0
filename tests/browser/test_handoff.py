"""A handoff played in two browsers: a customer on the chat page, an agent on the agent console.

Both pages are watched (tests/browser/conftest.py): no console error, no uncaught exception,
no CSP violation, no dialog and no request leaving 127.0.0.1.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.pages import HTTP_STATUS_NOTE, TOKEN_KEY, answers, ask, call, open_chat, stored_conversation_id
from tests.deepseek_standin import Reply
from tests.staff import add_staff, staff_command

FAQ_QUESTION = "What are your delivery hours?"
ASK_FOR_PERSON = "can I talk to a human"
REPLY = "Hi, I'm Dana from the support team. Let me look at your order."


def sign_in(page: Page, base_url: str, token: str) -> None:
    page.goto(base_url + "/agent")
    page.get_by_label("Staff token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def staff_get(base_url: str, path: str, token: str) -> dict[str, Any]:
    status, body = call(base_url, "GET", "/api/v1/staff" + path, token=token)
    assert status == 200, body
    return body


def test_a_customer_asks_for_a_person_an_agent_claims_replies_and_closes_and_the_bot_answers_again(
    live_app, page, other_page, standin
):
    app, base_url = live_app
    token = add_staff(app, "Dana")
    customer, agent = page, other_page
    open_chat(customer, base_url)
    expect(customer.get_by_role("button", name="Talk to a person")).to_be_disabled()  # no conversation yet

    ask(customer, ASK_FOR_PERSON)

    expect(answers(customer).nth(0)).to_have_attribute("data-source", "handoff")
    expect(customer.locator("#handoff-state")).to_contain_text("Waiting for our team")
    expect(customer.get_by_role("button", name="Talk to a person")).to_be_disabled()  # already handed off
    assert standin.requests == []  # answered without DeepSeek

    sign_in(agent, base_url, token)
    waiting = agent.locator("#waiting > li.queue__item")
    expect(waiting).to_have_count(1)
    expect(waiting.nth(0)).to_contain_text(ASK_FOR_PERSON)
    expect(waiting.nth(0)).to_contain_text("customer words")
    waiting.nth(0).get_by_role("button", name=re.compile("^Claim")).click()

    expect(agent.locator("#transcript-body")).to_have_attribute("data-state", "agent")
    expect(agent.locator("#mine > li.queue__item")).to_have_count(1)
    expect(agent.locator("#waiting > li.queue__item")).to_have_count(0)
    expect(agent.locator("#messages")).to_contain_text(ASK_FOR_PERSON)
    expect(customer.locator("#handoff-state")).to_have_text("Dana joined")  # live, no reload
    agent.get_by_label("Reply to the customer").fill(REPLY)
    agent.get_by_role("button", name="Send reply").click()

    from_dana = customer.locator("#conversation > li.message--agent")
    expect(from_dana).to_have_count(1)
    expect(from_dana.locator(".message__text")).to_have_text(REPLY)
    expect(from_dana.locator(".message__author")).to_have_text("Dana")

    ask(customer, "My order 1234 has not arrived")  # a person has it: stored for them, no bot answer

    sent = customer.locator("#conversation > li.message--user").last
    expect(sent.locator(".message__note")).to_have_text("Sent to our team")
    expect(answers(customer)).to_have_count(1)
    expect(agent.locator("#messages")).to_contain_text("My order 1234 has not arrived")  # live for the agent
    assert standin.requests == []

    agent.get_by_label("Note for the team (optional, not shown to the customer)").fill("Refund issued")
    agent.get_by_role("button", name="Close conversation").click()

    expect(customer.locator("#conversation > li.message--event").last).to_have_text("Dana closed the conversation")
    expect(customer.locator("#handoff-state")).to_be_hidden()
    expect(agent.locator("#mine > li.queue__item")).to_have_count(0)
    expect(agent.locator("#messages")).to_contain_text("Refund issued")  # the staff-only note, for staff

    ask(customer, FAQ_QUESTION)  # the bot answers again

    expect(answers(customer).nth(1)).to_have_attribute("data-source", "faq")
    expect(answers(customer).nth(1).locator(".message__text")).to_contain_text("8 AM to 8 PM EST")
    before = customer.locator("#conversation > li").all_inner_texts()
    assert "Refund issued" not in " ".join(before)  # the note stays with staff

    customer.reload()  # everything is still there, in order

    expect(answers(customer).nth(1)).to_have_attribute("data-source", "faq")
    expect(customer.locator("#conversation > li.message--agent .message__author")).to_have_text("Dana")
    expect(customer.locator("#conversation > li.message--event").filter(has_text="Dana joined")).to_have_count(1)
    expect(customer.locator("#conversation > li.message--event").filter(has_text="closed")).to_have_count(1)
    expect(customer.locator("#handoff-state")).to_be_hidden()


def test_the_button_hands_off_and_a_reload_keeps_the_waiting_state(live_app, page):
    _, base_url = live_app
    open_chat(page, base_url)
    ask(page, FAQ_QUESTION)
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")

    page.get_by_role("button", name="Talk to a person").click()

    expect(page.locator("#handoff-state")).to_contain_text("Waiting for our team")
    expect(page.get_by_role("button", name="Talk to a person")).to_be_disabled()

    page.reload()

    expect(page.locator("#handoff-state")).to_contain_text("Waiting for our team")
    expect(page.get_by_role("button", name="Talk to a person")).to_be_disabled()
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")


def test_thumbs_down_with_a_comment_is_stored_and_a_second_click_takes_it_back(live_app, page):
    app, base_url = live_app
    token = add_staff(app, "Sam", "admin")
    open_chat(page, base_url)
    ask(page, FAQ_QUESTION)
    answer = answers(page).nth(0)
    expect(answer).to_have_attribute("data-source", "faq")
    up = answer.get_by_role("button", name="Helpful", exact=True)
    down = answer.get_by_role("button", name="Not helpful")
    expect(up).to_have_attribute("aria-pressed", "false")

    down.click()
    answer.get_by_label("What was wrong with this answer? (optional)").fill("It does not say Sundays")
    answer.get_by_role("button", name="Send feedback").click()

    expect(answer.locator(".feedback__note")).to_have_text("Thank you for your feedback.")
    expect(down).to_have_attribute("aria-pressed", "true")
    conversation_id = stored_conversation_id(page)
    message_id = answer.get_attribute("data-message-id")
    stored = staff_get(base_url, f"/conversations/{conversation_id}", token)
    rated = [message for message in stored["messages"] if str(message["message_id"]) == message_id]
    assert rated[0]["feedback"]["rating"] == "down"
    assert rated[0]["feedback"]["comment"] == "It does not say Sundays"

    page.reload()  # the rating is shown again

    down = answers(page).nth(0).get_by_role("button", name="Not helpful")
    expect(down).to_have_attribute("aria-pressed", "true")
    down.click()  # a second click removes it

    expect(down).to_have_attribute("aria-pressed", "false")
    stored = staff_get(base_url, f"/conversations/{conversation_id}", token)
    rated = [message for message in stored["messages"] if str(message["message_id"]) == message_id]
    assert rated[0]["feedback"] is None


def test_the_token_lives_in_session_storage_and_a_revoked_one_signs_out(live_app, other_page, other_watch):
    app, base_url = live_app
    token = add_staff(app, "Dana")
    page = other_page
    other_watch.expect_console_error(HTTP_STATUS_NOTE.format(status=401))
    page.goto(base_url + "/agent")
    page.get_by_label("Staff token").fill("ggs_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_have_text("That token was not accepted. Check it and try again.")

    sign_in(page, base_url, token)

    expect(page.locator("#who")).to_have_text("Signed in as Dana (agent)")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    assert page.evaluate("localStorage.length") == 0
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # the tab remembers it

    assert staff_command(app, "revoke", "Dana").exit_code == 0
    page.reload()

    expect(page.get_by_label("Staff token")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_after_two_failed_answers_the_failure_offers_a_person(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    standin.push(*[Reply(status=503)] * 6)  # two questions: the first try and both retries each

    ask(page, "Do you sell organic kale?")
    expect(answers(page).nth(0)).to_have_attribute("data-error-code", "UPSTREAM_BUSY")
    expect(answers(page).nth(0).get_by_role("button", name="Talk to a person")).to_have_count(0)
    ask(page, "Do you sell organic kale? Please")

    offer = answers(page).nth(1).get_by_role("button", name="Talk to a person")
    expect(offer).to_be_visible()
    offer.click()

    expect(page.locator("#handoff-state")).to_contain_text("Waiting for our team")
    expect(answers(page).last).to_have_attribute("data-source", "handoff")


def post(base_url: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    status, answer = call(base_url, "POST", path, body, token)
    assert status == 200, answer
    return answer


def waiting_conversation(base_url: str, question: str = ASK_FOR_PERSON) -> str:
    """Start a conversation whose customer asks for a person; return its id."""
    answer = post(base_url, "/api/v1/chat", {"message": question})
    assert answer["state"] == "waiting"
    return answer["conversation_id"]


def test_a_claim_another_agent_won_is_refused_politely(live_app, other_page, other_watch):
    app, base_url = live_app
    dana, lee = add_staff(app, "Dana"), add_staff(app, "Lee")
    conversation_id = waiting_conversation(base_url)
    other_watch.expect_console_error(HTTP_STATUS_NOTE.format(status=409))
    page = other_page
    sign_in(page, base_url, dana)
    claim = page.locator("#waiting > li.queue__item").get_by_role("button", name=re.compile("^Claim"))
    expect(claim).to_have_count(1)

    def lee_first(route):  # Lee's claim reaches the server just before Dana's
        post(base_url, f"/api/v1/staff/conversations/{conversation_id}/claim", {}, lee)
        route.continue_()

    page.route("**/claim", lee_first)
    claim.click()

    expect(page.locator("#notice")).to_have_text("Another agent has already taken this conversation.")
    expect(page.locator("#waiting > li.queue__item")).to_have_count(0)
    expect(page.locator("#transcript-body")).to_have_attribute("data-state", "agent")
    expect(page.locator("#details")).to_contain_text("Lee")
    expect(page.get_by_label("Reply to the customer")).to_be_hidden()
    assert staff_get(base_url, "/queue", lee)["mine"][0]["conversation_id"] == conversation_id


def test_without_the_live_stream_the_console_polls_and_release_puts_it_back_in_the_queue(
    live_app, page, other_page, other_watch
):
    app, base_url = live_app
    token = add_staff(app, "Dana")
    other_watch.expect_console_error(r"net::ERR_FAILED")
    agent = other_page
    agent.route("**/api/v1/staff/events", lambda route: route.abort())
    sign_in(agent, base_url, token)
    expect(agent.locator("#live")).to_have_text("Live updates paused: refreshing every 3 seconds.")
    open_chat(page, base_url)
    ask(page, ASK_FOR_PERSON)
    expect(page.locator("#handoff-state")).to_contain_text("Waiting for our team")

    waiting = agent.locator("#waiting > li.queue__item")
    expect(waiting).to_have_count(1)  # seen by polling
    expect(agent).to_have_title("(1) GreenGrocer Foods agent console")  # seen from another tab too
    waiting.get_by_role("button", name=re.compile("^Claim")).click()
    expect(page.locator("#handoff-state")).to_have_text("Dana joined")
    agent.get_by_role("button", name="Release").click()

    expect(agent.locator("#waiting > li.queue__item")).to_have_count(1)
    expect(agent.locator("#mine > li.queue__item")).to_have_count(0)
    expect(page.locator("#conversation > li.message--event").last).to_have_text("Dana left; waiting for our team")
    expect(page.locator("#handoff-state")).to_contain_text("Waiting for our team")
    expect(agent.locator("#messages")).to_contain_text("Released")
