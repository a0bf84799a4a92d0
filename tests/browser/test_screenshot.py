"""The README's screenshot can be taken again: tests/browser/screenshot.py still works."""

from __future__ import annotations

import struct

from tests.browser.screenshot import VIEWPORT, take_screenshot


def test_the_screenshot_of_the_page_mid_conversation_can_be_retaken(live_app, page, standin, tmp_path):
    _, base_url = live_app
    output = tmp_path / "chat-page.png"

    take_screenshot(page, base_url, standin, output)

    png = output.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (VIEWPORT["width"], VIEWPORT["height"])
