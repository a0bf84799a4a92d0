"""A stand-in for DeepSeek's chat-completions API on 127.0.0.1.

It speaks the wire format the real service does: a JSON completion, or an SSE stream
of `chat.completion.chunk` events ending in `data: [DONE]`; JSON error bodies with
their status codes; the blank lines (JSON) and `: keep-alive` comments (SSE) that
DeepSeek sends while a request waits in its queue. Tests script what it answers with
`StandIn.push(Reply(...))` and read what it received from `StandIn.requests`.

Used by the tests, the benchmarks and the browser tests: nothing here is mocked,
the app's real client talks to it over HTTP.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT_SECONDS = 10.0  # a held stream goes on by itself after this, should a test never release it


@dataclass
class Reply:
    """What the stand-in answers to one request.

    content / reasoning: the answer (and a thinking model's reasoning_content);
    status / error: a non-200 answer with DeepSeek's error body;
    raw: bytes sent as the body instead of a completion (garbage tests);
    delay: seconds before the status line; keepalives / keepalive_interval: blank
    lines or `: keep-alive` comments sent after the headers, before the answer;
    chunk_delay: seconds between SSE chunks; cut_after: close an SSE stream after this
    many content chunks, without finish_reason or [DONE]; hold_after: pause an SSE stream
    after this many content chunks until the test calls `StandIn.release()` (so a test can
    see what happens mid-stream without timing it); drop: close the connection without
    answering; headers: extra response headers.
    framing: how the body's end is marked: "chunked" (Transfer-Encoding), "length"
    (Content-Length) or "close" (neither: the body ends when the connection closes).
    tool_calls: function calls to answer with (after any content); in a stream each
    call's arguments are split over several chunks. finish_reason defaults to
    "tool_calls" when there are calls, else "stop".
    """

    content: str = "Hello from the stand-in."
    reasoning: str | None = None
    model: str = "deepseek-chat"
    finish_reason: str | None = None
    status: int = 200
    error: str | None = None
    raw: bytes | None = None
    raw_content_type: str = "application/json"
    delay: float = 0.0
    keepalives: int = 0
    keepalive_interval: float = 0.05
    chunk_delay: float = 0.0
    chunk_size: int = 8
    cut_after: int | None = None
    hold_after: int | None = None
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] | None = None
    framing: str = "chunked"
    tool_calls: list[Call] = field(default_factory=list)

    @property
    def finish(self) -> str:
        """Return the finish_reason to send."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@dataclass
class Call:
    """A function call for the stand-in to answer with; `arguments` is sent as is when it is a string."""

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")

    @property
    def arguments_text(self) -> str:
        """Return the arguments as the JSON string DeepSeek sends."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class ReceivedRequest:
    """One request the stand-in received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived


class StandIn:
    """A threaded HTTP server on loopback that answers like DeepSeek; over TLS if given a certificate and key."""

    def __init__(self, default: Reply | None = None, port: int = 0, tls: tuple[str, str] | None = None) -> None:
        self.default = default or Reply()
        self.requests: list[ReceivedRequest] = []
        self.connections = 0  # TCP connections accepted
        self.disconnects = 0  # streams the client closed before the end
        self.completed_streams = 0
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._disconnected = threading.Condition(self._lock)
        self._released = threading.Event()
        self._generation = 0  # counts resets: a request from before the last reset counts nothing after it
        self._server = _Server(("127.0.0.1", port), _handler_for(self), self)
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            # The handshake happens in each request's thread, not in the accepting one.
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                      do_handshake_on_connect=False)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to give the client (as DEEPSEEK_BASE_URL)."""
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def start(self) -> StandIn:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def push(self, *replies: Reply) -> None:
        """Queue replies for the next requests; after them the default reply is used."""
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget queued replies and received requests; let held streams go on."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()
            self.connections = 0
            self.disconnects = 0
            self.completed_streams = 0
            self._generation += 1
            self._released.set()
            self._released = threading.Event()

    def release(self) -> None:
        """Let the streams paused at `hold_after` go on."""
        self._released.set()

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Wait until a client has closed a stream early; return whether one did."""
        with self._disconnected:
            return self._disconnected.wait_for(lambda: self.disconnects > 0, timeout)

    def _next_reply(self, received: ReceivedRequest) -> tuple[Reply, int, threading.Event]:
        """Record a request; return its reply, the generation it belongs to and its release event."""
        with self._lock:
            self.requests.append(received)
            reply = self._replies.popleft() if self._replies else self.default
            return reply, self._generation, self._released

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _count_disconnect(self, generation: int) -> None:
        with self._disconnected:
            if generation == self._generation:
                self.disconnects += 1
                self._disconnected.notify_all()

    def _count_completed(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self.completed_streams += 1


class _Server(ThreadingHTTPServer):
    """The stand-in's server: counts connections, and is quiet about clients that give up a TLS handshake."""

    daemon_threads = True
    block_on_close = False  # stopping does not wait for an answer still sleeping

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: StandIn) -> None:
        super().__init__(address, handler)
        self.standin = standin

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.standin._count_connection()
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)


def _handler_for(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        generation = 0  # of the request being answered (see StandIn.reset)
        released = threading.Event()  # set when streams held at `hold_after` may go on

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_unparsed": raw.decode("utf-8", "replace")}
            received = ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            reply, self.generation, self.released = standin._next_reply(received)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            try:
                if reply.status != 200 or reply.raw is not None:
                    self._send_plain(reply)
                elif body.get("stream"):
                    self._send_stream(reply, body)
                else:
                    self._send_completion(reply, body)
            except (BrokenPipeError, ConnectionResetError):
                standin._count_disconnect(self.generation)
                self.close_connection = True

        def _send(self, status: int, content_type: str, reply: Reply, parts: list[tuple[bytes, float]],
                  whole: int | None = None, hold_at: int | None = None) -> None:
            """Send a body in parts, pausing after each, framed as the reply says.

            `whole`: the length of the full body when only the first parts are sent (a cut);
            `hold_at`: the part to wait for `StandIn.release()` before.
            """
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            elif reply.framing == "length":
                self.send_header("Content-Length", str(whole or sum(len(data) for data, _ in parts)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.flush()
            for index, (data, pause) in enumerate(parts):
                if index == hold_at:
                    self.released.wait(HOLD_LIMIT_SECONDS)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if reply.framing == "chunked" else data)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
            if reply.framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            if whole is not None:
                self.close_connection = True

        def _send_plain(self, reply: Reply) -> None:
            if reply.raw is not None:
                payload, content_type = reply.raw, reply.raw_content_type
            else:
                error = {"message": reply.error or f"stand-in error {reply.status}", "type": "stand_in_error",
                         "param": None, "code": "stand_in"}
                payload, content_type = json.dumps({"error": error}).encode(), "application/json"
            self._send(reply.status, content_type, reply, [(payload, 0.0)])

        def _send_completion(self, reply: Reply, request: dict[str, Any]) -> None:
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if reply.reasoning is not None:
                message["reasoning_content"] = reply.reasoning
            if reply.tool_calls:
                message["content"] = reply.content or None
                message["tool_calls"] = [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_text}}
                    for call in reply.tool_calls
                ]
            payload = {
                "id": str(uuid.uuid4()),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}],
                "usage": reply.usage or _usage(request, reply.content),
                "system_fingerprint": "fp_standin",
            }
            keepalives = [(b"\n", reply.keepalive_interval)] * reply.keepalives  # DeepSeek's queue keep-alive
            self._send(200, "application/json", reply, [*keepalives, (json.dumps(payload).encode(), 0.0)])

        def _send_stream(self, reply: Reply, request: dict[str, Any]) -> None:
            completion_id = str(uuid.uuid4())

            def event(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
                chunk = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": reply.model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    "usage": usage,
                }
                return b"data: " + json.dumps(chunk).encode() + b"\n\n"

            head = [event({"role": "assistant", "content": ""})]
            head += [event({"reasoning_content": piece}) for piece in _pieces(reply.reasoning or "", reply.chunk_size)]
            content = [event({"content": piece}) for piece in _pieces(reply.content, reply.chunk_size)]
            calls = []
            for index, call in enumerate(reply.tool_calls):
                calls.append(event({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                                    "function": {"name": call.name, "arguments": ""}}]}))
                calls += [event({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                          for piece in _pieces(call.arguments_text, reply.chunk_size)]
            tail = [event({"content": ""}, reply.finish, reply.usage or _usage(request, reply.content)),
                    b"data: [DONE]\n\n"]
            events = [*head, *content, *calls, *tail]
            keepalives = [(b": keep-alive\n\n", reply.keepalive_interval)] * reply.keepalives  # DeepSeek's queue
            parts = [*keepalives, *[(data, reply.chunk_delay) for data in events]]
            if reply.cut_after is not None and reply.cut_after < len(content):  # the stream just ends mid-answer
                sent = len(keepalives) + len(head) + reply.cut_after
                self._send(200, "text/event-stream; charset=utf-8", reply, parts[:sent],
                           whole=sum(len(data) for data, _ in parts))
                return
            hold_at = None if reply.hold_after is None else len(keepalives) + len(head) + reply.hold_after
            self._send(200, "text/event-stream; charset=utf-8", reply, parts, hold_at=hold_at)
            standin._count_completed(self.generation)

    return Handler


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _usage(request: dict[str, Any], content: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", ""))) for m in request.get("messages", [])) // 4 + 1
    completion = len(content) // 4 + 1
    hit = min(prompt, 64)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_cache_hit_tokens": hit,
        "prompt_cache_miss_tokens": prompt - hit,
    }


def main() -> None:
    """Run the stand-in on its own, for trying the API by hand: python -m tests.deepseek_standin."""
    import argparse

    parser = argparse.ArgumentParser(description="A local stand-in for DeepSeek's chat-completions API.")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--answer", default="This is the DeepSeek stand-in answering on 127.0.0.1.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    standin = StandIn(Reply(content=args.answer, delay=args.latency, chunk_delay=0.05), port=args.port).start()
    print(f"DeepSeek stand-in on {standin.url} (Ctrl+C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
