"""Test helpers for server-sent events: parse a body, or read a live stream as it arrives."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    """One server-sent event, or a comment line (event == ":")."""

    event: str
    data: Any
    at: float  # time.monotonic() when it was read


def parse(text: str) -> list[Event]:
    """Parse a whole event-stream body."""
    return list(_events(iter(text.splitlines(keepends=True))))


def open_stream(base_url: str, body: dict[str, Any], path: str = "/api/v1/chat/stream") -> http.client.HTTPResponse:
    """POST to a live server and return the response unread, to read events as they arrive."""
    return _unread(base_url, "POST", path, json.dumps(body), {"Content-Type": "application/json"})


def open_get_stream(base_url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET a stream from a live server and return the response unread, to read events as they arrive."""
    return _unread(base_url, "GET", path, None, headers or {})


def _unread(base_url: str, method: str, path: str, body: str | None, headers: dict[str, str]) -> http.client.HTTPResponse:
    """Send a request to a live server (http://host:port) and return its response unread."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(method, path, body=body, headers=headers)
    return connection.getresponse()


def read_events(response: http.client.HTTPResponse) -> Iterator[Event]:
    """Yield events from a live response as each one is complete."""
    return _events(iter(response.readline, b""))


def _events(lines: Iterator[Any]) -> Iterator[Event]:
    event, data = "message", []
    for raw in lines:
        line = raw.decode() if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line.startswith(":"):
            yield Event(":", line[1:].strip(), time.monotonic())
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif line == "" and data:
            yield Event(event, json.loads("\n".join(data)), time.monotonic())
            event, data = "message", []
