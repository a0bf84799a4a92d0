"""The chat page in headless Chromium, against a live server and the DeepSeek stand-in.

Each test's page is watched (tests/browser/conftest.py): no console error, no uncaught
exception, no CSP violation, no dialog and no request leaving 127.0.0.1.
"""

from __future__ import annotations

import re
import urllib.request

from playwright.sync_api import Page, expect

from app.errors import UpstreamBusy, UpstreamError
from tests.browser.pages import HTTP_STATUS_NOTE, answers, ask, bubbles, open_chat, stored_conversation_id, text_of
from tests.deepseek_standin import Reply
from tests.prompts import conversation

FAQ_QUESTION = "What are your delivery hours?"
LLM_QUESTION = "Do you sell organic kale?"
LLM_ANSWER = (
    "Yes! We stock organic kale every day, in bunches and in bags of baby kale. "
    "You will find it under Fresh Produce, Leafy Greens."
)
INJECTION = "<img src=x onerror=alert(1)>"


def record_answer_lengths(page: Page) -> None:
    """Note the length of the newest answer each time the page changes it (once per network chunk)."""
    page.evaluate(
        """() => {
            window.__answerLengths = [];
            const log = document.getElementById("conversation");
            new MutationObserver(() => {
                const texts = log.querySelectorAll(".message--assistant .message__text");
                if (texts.length) window.__answerLengths.push(texts[texts.length - 1].textContent.length);
            }).observe(log, {subtree: true, childList: true, characterData: true});
        }"""
    )


def test_an_faq_and_an_llm_question_each_show_their_answer_the_llm_one_in_pieces(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    expect(page.locator("#conversation")).to_have_attribute("aria-live", "polite")

    ask(page, FAQ_QUESTION)

    expect(text_of(answers(page).nth(0))).to_contain_text("8 AM to 8 PM EST")
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")
    expect(answers(page).nth(0).locator(".message__note")).to_have_text("From our FAQ")
    expect(text_of(bubbles(page).nth(0))).to_have_text(FAQ_QUESTION)

    standin.push(Reply(content=LLM_ANSWER, chunk_size=6, chunk_delay=0.08))  # 21 pieces over about 1.7 s
    record_answer_lengths(page)
    ask(page, LLM_QUESTION)

    page.wait_for_function(  # the first half shown: ten pieces, about 0.8 s, still to come
        "half => { const t = document.querySelectorAll('.message--assistant .message__text')[1];"
        " return t && t.textContent.length > 0 && t.textContent.length < half; }",
        arg=len(LLM_ANSWER) // 2,
    )
    assert standin.completed_streams == 0  # shown while DeepSeek was still writing
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    expect(text_of(answers(page).nth(1))).to_have_text(LLM_ANSWER)
    expect(answers(page).nth(1)).to_have_attribute("data-source", "llm")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_label("Your question")).to_be_focused()
    lengths = page.evaluate("window.__answerLengths")
    assert len({n for n in lengths if 0 < n < len(LLM_ANSWER)}) >= 5, lengths  # grew piece by piece
    # Both questions went to one conversation: DeepSeek got the FAQ turn as history.
    history = conversation(standin.requests[0].body["messages"])
    assert history[0] == FAQ_QUESTION and "8 AM to 8 PM EST" in history[1] and history[2] == LLM_QUESTION
    assert stored_conversation_id(page)


def test_a_reload_shows_the_conversation_again(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    box = page.get_by_label("Your question")
    box.fill("What are your delivery hours?")
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("And on Sundays?")
    expect(box).to_have_value("What are your delivery hours?\nAnd on Sundays?")
    expect(bubbles(page)).to_have_count(0)
    box.press("Enter")
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")
    standin.push(Reply(content=LLM_ANSWER))
    ask(page, LLM_QUESTION)
    expect(answers(page).nth(1)).to_have_attribute("data-source", "llm")
    before = page.locator("#conversation .message__text").all_inner_texts()
    conversation_id = stored_conversation_id(page)

    page.reload()

    expect(bubbles(page)).to_have_count(4)
    assert page.locator("#conversation .message__text").all_inner_texts() == before
    assert before[0] == "What are your delivery hours?\nAnd on Sundays?"  # the line break is kept
    expect(answers(page).nth(0).locator(".message__note")).to_have_text("From our FAQ")
    expect(answers(page).nth(1)).to_have_attribute("data-source", "llm")
    assert stored_conversation_id(page) == conversation_id
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_an_upstream_failure_shows_the_friendly_text(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    standin.push(Reply(status=503), Reply(status=503), Reply(status=503))  # the first try and both retries

    ask(page, LLM_QUESTION)

    failed = answers(page).nth(0)
    expect(text_of(failed)).to_have_text(UpstreamBusy.message)
    expect(failed).to_have_class(re.compile(r"\bmessage--error\b"))
    expect(failed).to_have_attribute("data-error-code", "UPSTREAM_BUSY")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    page.reload()  # the question was stored with its error code

    expect(text_of(bubbles(page).nth(0))).to_have_text(LLM_QUESTION)
    expect(text_of(answers(page).nth(0))).to_have_text("This question was not answered. Please ask it again.")
    expect(answers(page).nth(0)).to_have_attribute("data-error-code", "UPSTREAM_BUSY")


def test_an_answer_cut_mid_stream_keeps_what_was_written_and_says_so(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    standin.push(Reply(content="Part one. Part two never comes.", chunk_size=5, cut_after=2))

    ask(page, LLM_QUESTION)

    cut = answers(page).nth(0)
    expect(cut.locator(".message__note")).to_have_text(UpstreamError.message)
    expect(text_of(cut)).to_have_text("Part one. ")
    expect(cut).to_have_class(re.compile(r"\bmessage--interrupted\b"))

    page.reload()

    expect(text_of(answers(page).nth(0))).to_have_text("Part one. ")
    cut_off_note = answers(page).nth(0).locator(".message__note").last
    expect(cut_off_note).to_have_text("The answer was cut off. Please ask again.")
    expect(answers(page)).to_have_count(1)  # the partial answer stands for the failure, no second note


def test_html_in_a_message_or_an_answer_stays_text(live_app, page, watch, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    answer = f"You wrote {INJECTION} and <b>bold</b> <script>alert(2)</script>"
    standin.push(Reply(content=answer, chunk_size=4))  # split mid-tag, too

    ask(page, INJECTION)

    expect(text_of(answers(page).nth(0))).to_have_text(answer)
    expect(text_of(bubbles(page).nth(0))).to_have_text(INJECTION)
    assert page.locator("#conversation img, #conversation b, #conversation script").count() == 0

    page.reload()

    expect(text_of(answers(page).nth(0))).to_have_text(answer)
    expect(text_of(bubbles(page).nth(0))).to_have_text(INJECTION)
    assert page.locator("#conversation img, #conversation b, #conversation script").count() == 0
    assert not [url for url in watch.requests if url.endswith("/x")]  # the "image" was never fetched
    # and no alert() ran: the watch fails the test on any dialog


def test_a_rate_limited_question_says_when_to_retry(make_app, serve, page, watch, standin):
    base_url = serve(make_app(RATE_LIMITS="2/minute"))
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=429))
    open_chat(page, base_url)
    for _ in range(2):
        ask(page, FAQ_QUESTION)
        expect(page.get_by_role("button", name="Send")).to_be_enabled()

    ask(page, FAQ_QUESTION)

    limited = answers(page).nth(2)
    expect(text_of(limited)).to_have_text(
        re.compile(r"^You are sending messages too quickly\. Please try again in \d+ seconds?\.$")
    )
    expect(limited).to_have_attribute("data-error-code", "RATE_LIMIT_429")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_new_conversation_starts_afresh_and_stops_an_answer_in_progress(live_app, page, standin):
    _, base_url = live_app
    open_chat(page, base_url)
    ask(page, FAQ_QUESTION)
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")
    first_id = stored_conversation_id(page)
    standin.push(Reply(content="z" * 400, chunk_size=4, chunk_delay=0.05))  # 5 s, if nobody stops it
    ask(page, LLM_QUESTION)
    expect(text_of(answers(page).nth(1))).to_contain_text("zzzz")

    page.get_by_role("button", name="New conversation").click()

    expect(bubbles(page)).to_have_count(0)
    assert stored_conversation_id(page) is None
    expect(page.get_by_label("Your question")).to_be_focused()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert standin.wait_for_disconnect(timeout=5.0)  # the server closed DeepSeek's stream too
    ask(page, FAQ_QUESTION)
    expect(answers(page)).to_have_count(1)
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")
    assert stored_conversation_id(page) not in (None, first_id)


def test_a_conversation_deleted_elsewhere_is_forgotten_on_reload(live_app, page, watch, standin):
    _, base_url = live_app
    watch.expect_console_error(HTTP_STATUS_NOTE.format(status=404))
    open_chat(page, base_url)
    ask(page, FAQ_QUESTION)
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")  # answered: the id is stored
    conversation_id = stored_conversation_id(page)
    deletion = urllib.request.Request(f"{base_url}/api/v1/conversations/{conversation_id}", method="DELETE")
    assert urllib.request.urlopen(deletion).status == 204

    page.reload()

    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(bubbles(page)).to_have_count(0)
    assert stored_conversation_id(page) is None
    expect(page.locator("#status")).to_have_text("")
    ask(page, FAQ_QUESTION)
    expect(answers(page).nth(0)).to_have_attribute("data-source", "faq")
    assert stored_conversation_id(page) not in (None, conversation_id)


def test_the_page_fits_a_phone(live_app, page, standin):
    _, base_url = live_app
    page.set_viewport_size({"width": 360, "height": 740})
    open_chat(page, base_url)
    standin.push(Reply(content="A-very-long-word-without-spaces-" * 8))

    ask(page, "x" * 120)

    expect(answers(page).nth(0)).to_have_attribute("data-source", "llm")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sideways
    for control in [
        page.get_by_label("Your question"),
        page.get_by_role("button", name="Send"),
        page.get_by_role("button", name="New conversation"),
    ]:
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        assert box["height"] >= 36, box  # big enough for a finger


def test_the_page_reads_any_well_formed_event_stream(live_app, page):
    """CRLF and CR line ends, comments, a data field over two lines, an unknown event, a new source."""
    _, base_url = live_app
    body = (
        ": waiting\r\n\r\n"
        'event: meta\r\ndata: {"conversation_id": "0b0e5d9c-6d0e-4a55-8f7e-3c2c7a7a7a7a", "response_id": "r"}\r\n\r\n'
        'event: delta\ndata: {"content":\ndata: "Hello"}\n\n'
        "event: something-new\ndata: {}\n\n"
        'event: delta\rdata: {"content": " world"}\r\r'
        'event: done\ndata: {"source": "faq_fallback", "metadata": {}}\n\n'
    )
    page.route(
        "**/api/v1/chat/stream",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    open_chat(page, base_url)

    ask(page, "Anything")

    expect(text_of(answers(page).nth(0))).to_have_text("Hello world")
    expect(answers(page).nth(0).locator(".message__note")).to_have_text("Source: faq fallback")
    assert stored_conversation_id(page) == "0b0e5d9c-6d0e-4a55-8f7e-3c2c7a7a7a7a"
