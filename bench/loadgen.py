"""An asyncio HTTP/1.1 load generator: keep-alive connections, closed loops, and slow SSE streams.

Raw sockets, no HTTP library: each request costs the client a few tens of microseconds, so
hundreds of concurrent clients leave the server the CPU. Times are `time.monotonic()`
(CLOCK_MONOTONIC), comparable with the stand-in's records.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Sample:
    """One request as the client saw it."""

    started: float
    finished: float
    status: int  # 0: the connection failed
    tag: str = ""

    @property
    def latency(self) -> float:
        """Return the seconds from sending the request to reading the whole answer."""
        return self.finished - self.started


@dataclass
class StreamSample:
    """One SSE stream as the client saw it."""

    tag: str
    started: float
    status: int = 0
    meta_at: float | None = None
    first_delta_at: float | None = None
    done_at: float | None = None
    deltas: int = 0
    error: str = ""


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Write one request, opening the connection first if needed."""
        if self.writer is None:
            await self._open()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        assert self.writer is not None
        self.writer.write(head + body)
        await self.writer.drain()

    async def read_head(self) -> tuple[int, dict[str, str]]:
        """Read a status line and headers."""
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def chunks(self, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        """Yield the body as it arrives (chunked, sized, or up to the close)."""
        assert self.reader is not None
        if "chunked" in headers.get("transfer-encoding", ""):
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return
                data = await self.reader.readexactly(size + 2)
                yield data[:-2]
        elif "content-length" in headers:
            yield await self.reader.readexactly(int(headers["content-length"]))
        else:
            yield await self.reader.read()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send a request and return its status and whole body."""
        await self.send(method, path, body, headers)
        status, response_headers = await self.read_head()
        data = b"".join([piece async for piece in self.chunks(response_headers)])
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, data


JSON = {"Content-Type": "application/json"}


def new_tag() -> str:
    """Return a short unique request tag."""
    return uuid.uuid4().hex[:16]


def question(tag: str) -> str:
    """Return a question the FAQ does not answer, tagged so the stand-in can time it."""
    return f"Do you sell organic kale? [bench:{tag}]"


async def closed_loop(
    host: str,
    port: int,
    make_body: Callable[[str, str | None], bytes],
    *,
    clients: int,
    warmup: float,
    duration: float,
    path: str = "/api/v1/chat",
    turns: int = 1,
    timeout: float = 60.0,
) -> tuple[list[Sample], float, float]:
    """Keep `clients` clients busy, each sending its next request when its answer arrives.

    Each client continues its conversation for `turns` questions, then starts a new one.
    Returns the samples that finished inside the measurement window (after `warmup`), and the
    window's start and end: answers per second of the window, a closed loop's throughput. (Counting
    only the requests that also started inside it would drop, for each client, the one under way at
    the window's start: with 1 s answers and a 15 s window, 1/15 of the answers.)
    """
    begin = time.monotonic()
    window_start, window_end = begin + warmup, begin + warmup + duration
    samples: list[Sample] = []

    async def client() -> None:
        connection = Connection(host, port)
        conversation: str | None = None
        asked = 0
        try:
            while time.monotonic() < window_end:
                tag = new_tag()
                if asked >= turns:
                    conversation, asked = None, 0
                started = time.monotonic()
                try:
                    status, body = await asyncio.wait_for(
                        connection.request("POST", path, make_body(tag, conversation), JSON), timeout
                    )
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                    connection.close()
                    status, body = 0, b""
                finished = time.monotonic()
                asked += 1
                if status == 200 and turns > 1:
                    conversation = json.loads(body).get("conversation_id")
                if window_start <= finished <= window_end:
                    samples.append(Sample(started, finished, status, tag))
                if status == 0:
                    await asyncio.sleep(0.05)
        finally:
            connection.close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(max(0.0, window_end - time.monotonic()))
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples, window_start, window_end


async def one_stream(host: str, port: int, tag: str, body: bytes, timeout: float) -> StreamSample:
    """Open one SSE stream and time its events: meta, the first delta, done."""
    sample = StreamSample(tag=tag, started=time.monotonic())
    connection = Connection(host, port)
    buffer = b""
    try:
        async with asyncio.timeout(timeout):
            await connection.send("POST", "/api/v1/chat/stream", body, JSON)
            sample.status, headers = await connection.read_head()
            async for data in connection.chunks(headers):
                buffer += data
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    now = time.monotonic()
                    if block.startswith(b"event: meta"):
                        sample.meta_at = now
                    elif block.startswith(b"event: delta"):
                        sample.deltas += 1
                        if sample.first_delta_at is None:
                            sample.first_delta_at = now
                    elif block.startswith(b"event: done"):
                        sample.done_at = now
                    elif block.startswith(b"event: error"):
                        sample.error = block.decode(errors="replace")[:200]
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
        sample.error = sample.error or type(error).__name__
    finally:
        connection.close()
    return sample


async def streams(host: str, port: int, count: int, *, ramp: float, timeout: float) -> list[StreamSample]:
    """Open `count` streams, spread over `ramp` seconds, and hold them all to their end."""

    async def start(number: int) -> StreamSample:
        await asyncio.sleep(ramp * number / count)
        tag = new_tag()
        return await one_stream(host, port, tag, json.dumps({"message": question(tag)}).encode(), timeout)

    return list(await asyncio.gather(*(start(n) for n in range(count))))


def chat_body(tag: str, conversation: str | None) -> bytes:
    """Return a chat request that DeepSeek (the stand-in) must answer."""
    body: dict[str, str] = {"message": question(tag)}
    if conversation:
        body["conversation_id"] = conversation
    return json.dumps(body).encode()


@dataclass
class Throughput:
    """A fixed-time run's result: requests per second, latency and errors."""

    requests: int
    seconds: float
    median: float
    p99: float
    errors: int
    tool: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Return requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0
