"""Server-sent events (text/event-stream): framing events and comments, and the streaming response.

The framing follows the HTML standard's event-stream format: an `event:` line, one
`data:` line per line of data, a blank line to end the event; a line starting with
`:` is a comment, which clients ignore and proxies see as traffic (a heartbeat).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import Response, stream_with_context

# Proxies must neither cache nor buffer a stream (nginx honours X-Accel-Buffering).
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(event: str, data: Any, event_id: int | None = None) -> str:
    """Frame one event whose data is the JSON of `data`, with an `id:` line (the client's Last-Event-ID) if given."""
    if "\n" in event or "\r" in event:
        raise ValueError("an event name is one line")
    lines = json.dumps(data, ensure_ascii=False).splitlines() or [""]
    head = f"id: {int(event_id)}\n" if event_id is not None else ""
    return head + f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def format_comment(text: str) -> str:
    """Frame a comment (a heartbeat that keeps proxies from closing an idle stream)."""
    return "".join(f": {line}\n" for line in text.splitlines() or [""]) + "\n"


def event_stream(events: Iterable[str]) -> Response:
    """Return a response that sends framed events as they are produced, within the request's context."""
    return Response(stream_with_context(events), mimetype="text/event-stream", headers=HEADERS)
