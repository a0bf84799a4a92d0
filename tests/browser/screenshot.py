"""Take the README's screenshot of the chat page mid-conversation: python -m tests.browser.screenshot.

Everything runs on loopback, as in the browser tests: the DeepSeek stand-in, the app
(testing settings, a throw-away SQLite database) under a threaded server, and headless
Chromium (Debian's `chromium`, or CHROMIUM_PATH). The picture shows an FAQ answer and an
LLM answer still streaming. `--output` picks the file (default docs/chat-page.png).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import make_server

from app import create_app
from app.storage.database import upgrade_schema
from tests.browser.chromium import find_chromium, launch
from tests.deepseek_standin import Reply, StandIn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 900, "height": 640}
FAQ_QUESTION = "What are your delivery hours?"
LLM_QUESTION = "Do you sell organic kale? I'd like some for Sunday."
LLM_ANSWER = (
    "Yes! We stock organic kale every day: curly and Tuscan bunches, and bags of baby kale, under "
    "Fresh Produce, Leafy Greens. Order before 2 PM EST on Sunday and it arrives the same day, "
    "between 10 AM and 6 PM EST."
)


def take_screenshot(page: Page, base_url: str, standin: StandIn, output: Path) -> None:
    """Ask an FAQ and an LLM question on the chat page and photograph it while the second answer streams."""
    page.set_viewport_size(VIEWPORT)
    page.goto(base_url + "/")
    box = page.get_by_label("Your question")
    box.fill(FAQ_QUESTION)
    box.press("Enter")
    expect(page.locator(".message--assistant[data-source]")).to_have_count(1)
    standin.push(Reply(content=LLM_ANSWER, chunk_size=6, chunk_delay=0.06))
    box.fill(LLM_QUESTION)
    box.press("Enter")
    page.wait_for_function(  # written up to "Order before 2 PM EST", with about 0.6 s still to come
        "n => { const t = document.querySelectorAll('.message--assistant .message__text')[1];"
        " return t && t.textContent.length >= n; }",
        arg=LLM_ANSWER.index(" on Sunday and"),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(output), animations="disabled", caret="hide")


def main(argv: list[str] | None = None) -> int:
    """Start the stand-in, the app and Chromium on loopback, and write the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "docs" / "chat-page.png")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("Chromium is not installed: install Debian's `chromium` package or set CHROMIUM_PATH", file=sys.stderr)
        return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    standin = StandIn().start()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({
            "FLASK_ENV": "testing",
            "DEEPSEEK_API_KEY": "sk-local",
            "DEEPSEEK_BASE_URL": standin.url,
            "DATABASE_URL": f"sqlite:///{folder}/chatbot.db",
            "LOG_FILE": "",
            "RATE_LIMITS": "1000/minute",
        })
        upgrade_schema(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright, chromium)
                take_screenshot(browser.new_page(), f"http://127.0.0.1:{server.server_port}", standin, args.output)
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
            standin.stop()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
