"""The event-stream framing of app/api/sse.py, read back by a standard parser (tests/sse.py)."""

from __future__ import annotations

import pytest

from app.api.sse import format_comment, format_event
from tests import sse


def test_an_event_is_its_name_and_its_json_data():
    framed = format_event("delta", {"content": "Kale — 2 € a bunch\nfresh"})

    assert framed == 'event: delta\ndata: {"content": "Kale — 2 € a bunch\\nfresh"}\n\n'
    [event] = sse.parse(framed)
    assert (event.event, event.data) == ("delta", {"content": "Kale — 2 € a bunch\nfresh"})


def test_a_comment_of_several_lines_stays_a_comment():
    framed = format_comment("waiting\nstill waiting")

    assert framed == ": waiting\n: still waiting\n\n"
    assert [(e.event, e.data) for e in sse.parse(framed)] == [(":", "waiting"), (":", "still waiting")]
    assert format_comment("") == ": \n\n"


@pytest.mark.parametrize("name", ["done\ndata: {}", "a\rb"])
def test_an_event_name_cannot_inject_lines(name):
    with pytest.raises(ValueError):
        format_event(name, {})
