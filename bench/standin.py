"""A DeepSeek stand-in for the benchmark: asyncio, so hundreds of slow answers cost it almost nothing.

The tests' stand-in (tests/deepseek_standin.py) spends a thread per request and is scripted
per test; this one answers every request the same way and times each one:

- JSON (`"stream": false`): waits `--latency` seconds, then writes the whole completion.
- SSE (`"stream": true`): writes the headers and a `: keep-alive` comment at once, one more
  every `--keepalive` seconds until the first token after `--first-token` seconds, then a
  content chunk every `--interval` seconds, `--pieces` in all, then usage and `[DONE]`.

A request is identified by the tag `[bench:<id>]` in its last user message (the load
generator puts it there). For each one the stand-in records, in `time.monotonic()` seconds
(CLOCK_MONOTONIC, the same clock in every process on the machine): when the request was read,
when the first content was written (streams) and when the answer was written. So the
backend's own overhead is "client latency minus the time the stand-in held the request",
per request. `GET /_bench/records` returns and forgets them; `GET /_bench/stats` returns the
peak number of streams open at once since the last `/_bench/records`; `GET
/_bench/settings?latency=0` changes the JSON answers' latency from then on.

Run:  python -m bench.standin --port 8199 --latency 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

TAG = re.compile(r"\[bench:([A-Za-z0-9_-]+)\]")
ANSWER = (
    "Thanks for asking! Yes, we stock organic kale every day, sourced from local farms when in season. "
    "You can find it under Fresh Produce > Leafy Greens in the app. Orders placed before 2 PM EST are "
    "delivered the same day. If it shows as out of stock, add it to your favourites and we will let you know."
)


@dataclass
class Settings:
    """How the stand-in answers."""

    latency: float = 1.0
    first_token: float = 1.0
    interval: float = 0.5
    pieces: int = 10
    keepalive: float = 0.5


@dataclass
class Record:
    """The stand-in's times for one request (monotonic seconds)."""

    tag: str
    stream: bool
    received: float
    first_content: float | None = None
    answered: float | None = None


@dataclass
class State:
    """What the stand-in has seen since the last read of its records."""

    settings: Settings
    records: list[Record] = field(default_factory=list)
    open_streams: int = 0
    peak_streams: int = 0
    requests: int = 0


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """Read one HTTP/1.1 request; None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    return method, path, headers, body


def tag_of(request: dict[str, Any]) -> str:
    """Return the bench tag of the last user message, or a fresh id when there is none."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            found = TAG.search(str(message.get("content", "")))
            if found:
                return found.group(1)
            break
    return "untagged-" + uuid.uuid4().hex[:8]


def usage(request: dict[str, Any], answer: str) -> dict[str, int]:
    """Return token counts shaped like DeepSeek's (about 4 characters a token)."""
    prompt = sum(len(str(m.get("content", ""))) for m in request.get("messages") or []) // 4 + 1
    completion = len(answer) // 4 + 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_cache_hit_tokens": 0,
        "prompt_cache_miss_tokens": prompt,
    }


def response_head(status: str, content_type: str, length: int | None) -> bytes:
    """Return a response's status line and headers (chunked when the length is unknown)."""
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """Frame bytes as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


async def answer_json(writer: asyncio.StreamWriter, state: State, request: dict[str, Any], record: Record) -> None:
    """Wait the configured latency, then write a whole chat completion."""
    await asyncio.sleep(state.settings.latency)
    body = json.dumps(
        {
            "id": "chatcmpl-" + record.tag,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or "deepseek-chat",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop",
                 "logprobs": None}
            ],
            "usage": usage(request, ANSWER),
        }
    ).encode()
    writer.write(response_head("200 OK", "application/json", len(body)) + body)
    record.answered = time.monotonic()
    await writer.drain()


async def answer_stream(writer: asyncio.StreamWriter, state: State, request: dict[str, Any], record: Record) -> None:
    """Stream a completion slowly, with keep-alive comments while the first token is awaited."""
    settings = state.settings
    model = request.get("model") or "deepseek-chat"
    state.open_streams += 1
    state.peak_streams = max(state.peak_streams, state.open_streams)
    try:
        writer.write(response_head("200 OK", "text/event-stream; charset=utf-8", None) + chunk(b": keep-alive\n\n"))
        await writer.drain()
        first_at = record.received + settings.first_token
        while (left := first_at - time.monotonic()) > 0:
            await asyncio.sleep(min(settings.keepalive, left))
            if time.monotonic() < first_at:
                writer.write(chunk(b": keep-alive\n\n"))
                await writer.drain()
        size = -(-len(ANSWER) // settings.pieces)
        pieces = [ANSWER[i : i + size] for i in range(0, len(ANSWER), size)]
        for number, piece in enumerate(pieces):
            if number:
                await asyncio.sleep(settings.interval)
            writer.write(chunk(b"data: " + event(record.tag, model, {"content": piece}) + b"\n\n"))
            if number == 0:
                record.first_content = time.monotonic()
            await writer.drain()
        final = event(record.tag, model, {"content": ""}, "stop", usage(request, ANSWER))
        writer.write(chunk(b"data: " + final + b"\n\n") + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        record.answered = time.monotonic()
        await writer.drain()
    finally:
        state.open_streams -= 1


def event(tag: str, model: str, delta: dict[str, str], finish: str | None = None, used: dict | None = None) -> bytes:
    """Return one chat.completion.chunk as JSON."""
    return json.dumps(
        {
            "id": "chatcmpl-" + tag,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            "usage": used,
        }
    ).encode()


async def serve_control(writer: asyncio.StreamWriter, state: State, path: str) -> None:
    """Answer the benchmark's own requests: the records (then forget them) and the stream counts."""
    if path.startswith("/_bench/settings"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if "latency" in query:
            state.settings.latency = float(query["latency"][0])
        payload = {"latency": state.settings.latency}
    elif path.startswith("/_bench/records"):
        payload = {
            "records": [record.__dict__ for record in state.records],
            "peak_streams": state.peak_streams,
            "requests": state.requests,
        }
        state.records, state.peak_streams, state.requests = [], state.open_streams, 0
    else:
        payload = {"open_streams": state.open_streams, "peak_streams": state.peak_streams, "requests": state.requests}
    body = json.dumps(payload).encode()
    writer.write(response_head("200 OK", "application/json", len(body)) + body)
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: State) -> None:
    """Serve one keep-alive connection until the client closes it."""
    try:
        while (request := await read_request(reader)) is not None:
            method, path, _headers, body = request
            if method == "GET":
                await serve_control(writer, state, path)
                continue
            received = time.monotonic()
            data = json.loads(body or b"{}")
            record = Record(tag=tag_of(data), stream=bool(data.get("stream")), received=received)
            state.records.append(record)
            state.requests += 1
            if record.stream:
                await answer_stream(writer, state, data, record)
            else:
                await answer_json(writer, state, data, record)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the backend closed the connection (a client went away): nothing to answer
    finally:
        writer.close()


async def serve(host: str, port: int, settings: Settings) -> None:
    """Serve until cancelled."""
    state = State(settings)
    server = await asyncio.start_server(lambda r, w: handle(r, w, state), host, port, backlog=4096, limit=1 << 20)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before a JSON answer")
    parser.add_argument("--first-token", type=float, default=1.0, help="seconds before a stream's first token")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a stream's tokens")
    parser.add_argument("--pieces", type=int, default=10, help="content chunks per stream")
    parser.add_argument("--keepalive", type=float, default=0.5, help="seconds between keep-alive comments")
    args = parser.parse_args()
    settings = Settings(args.latency, args.first_token, args.interval, args.pieces, args.keepalive)
    try:
        asyncio.run(serve(args.host, args.port, settings))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
