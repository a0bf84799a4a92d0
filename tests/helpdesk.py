"""A stand-in for the support team's helpdesk: a webhook receiver on 127.0.0.1.

It checks each POST as a helpdesk should: the HMAC-SHA256 of the raw body, keyed with the
shared secret, against `X-Signature-256` (see docs/handoff.md for the same check in a
helpdesk's code), and records what it received. Tests script it: `push(Answer(...))`
queues answers (a status, Retry-After, a delay, a dropped connection), `hold()` keeps
every request waiting until `release()`, `down()` stops listening (connections are
refused) and `up()` listens again on the same port.

`new_conversation()` and `enqueue()` put events in an app's outbox as the handoff service
does, in the transaction that changes the conversation; `outbox()` reads it back and
`metric()` reads a sample of the app's /metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.services.webhooks import HelpdeskWebhooks
from app.storage.conversations import TOUCH_CONVERSATION
from app.storage.models import WebhookEvent, utcnow

PATH = "/hooks/greengrocer"
WEBHOOK_SECRET = "whsec-test-5f0c9a1e7b3d4c2a"  # what the `helpdesk` fixture and `make_webhook_app` share


@dataclass
class Answer:
    """What the helpdesk answers to one POST: a status after `delay` seconds, or a dropped connection.

    body_size: send a body of that many bytes instead of a short JSON one; cut: close the
    connection halfway through the body its Content-Length announced.
    """

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    body_size: int | None = None
    cut: bool = False


@dataclass
class Received:
    """One POST the helpdesk received, and the status it answered (None: it dropped the connection)."""

    path: str
    headers: dict[str, str]
    raw: bytes
    signed: bool
    client_port: int = 0  # which connection it came on
    status: int | None = None

    @property
    def body(self) -> dict[str, Any]:
        """Return the JSON body."""
        return json.loads(self.raw)

    @property
    def event_id(self) -> str:
        """Return the X-Event-ID header."""
        return self.headers.get("x-event-id", "")


class Helpdesk:
    """A threaded webhook receiver on loopback that verifies signatures and fails on demand."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.default = Answer()
        self.received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Return the webhook URL to configure (HANDOFF_WEBHOOK_URL)."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> Helpdesk:
        """Listen (on the same port as before, after `down()`)."""
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening, close every connection (kept-alive ones too) and let held requests go."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None

    down = stop

    def up(self) -> None:
        """Listen again on the same port."""
        self.start()

    def push(self, *answers: Answer) -> None:
        """Queue answers for the next POSTs; then the default answer is given."""
        with self._lock:
            self._answers.extend(answers)

    def hold(self) -> None:
        """Keep every request waiting, unanswered, until `release()`."""
        self._open.clear()

    def release(self) -> None:
        """Answer the held requests, and the next ones at once."""
        self._open.set()

    def accepted(self) -> list[Received]:
        """Return the POSTs answered with a 2xx, in the order they came."""
        with self._lock:
            return [item for item in self.received if item.status is not None and 200 <= item.status < 300]

    def wait_for(self, count: int, timeout: float = 15.0, *, accepted: bool = True) -> list[Received]:
        """Wait until `count` POSTs were accepted (or, with accepted=False, received); return them."""
        def enough() -> bool:
            return len(self.accepted() if accepted else self.received) >= count

        with self._lock:
            if not self._lock.wait_for(enough, timeout):
                got = len(self.accepted() if accepted else self.received)
                raise AssertionError(f"the helpdesk got {got} POSTs, not {count}, in {timeout} s")
            return self.accepted() if accepted else list(self.received)

    def _record(self, received: Received) -> Answer:
        with self._lock:
            self.received.append(received)
            self._lock.notify_all()
            return self._answers.popleft() if self._answers else self.default

    def _answered(self, received: Received, status: int | None) -> None:
        with self._lock:
            received.status = status
            self._lock.notify_all()

    def _signed(self, raw: bytes, header: str) -> bool:
        expected = "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header)


def new_conversation(app: Flask) -> str:
    """Start a conversation (events belong to one) and return its id."""
    with app.app_context():
        return app.extensions["chatbot"].store.create()


def enqueue(app: Flask, conversation_id: str, event: str = "handoff.requested", data: dict | None = None, *,
            commit: bool = True, notify: bool = True, webhooks: HelpdeskWebhooks | None = None) -> None:
    """Enqueue an event as the handoff service does, after changing the conversation; commit (or not), notify."""
    webhooks = webhooks or app.extensions["webhooks"]
    with app.app_context():
        connection = db.session.connection()
        connection.execute(TOUCH_CONVERSATION, {"conversation_id": conversation_id, "last_message_at": utcnow()})
        webhooks.enqueue(connection, event, conversation_id,
                         data if data is not None else {"trigger": "customer_button", "reason": "squashed kiwis"})
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
    if notify:
        webhooks.notify()


def outbox(app: Flask) -> list[WebhookEvent]:
    """Return every outbox row, oldest first."""
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
        db.session.expunge_all()
        db.session.rollback()
        return rows


def metric(app: Flask, name: str, **labels: str) -> float:
    """Return a sample's value from the app's /metrics (0 when absent)."""
    wanted = name + ("{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}" if labels else "")
    for line in app.test_client().get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class _Server(ThreadingHTTPServer):
    """A threaded server that can close the connections it still has open."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _handler_for(helpdesk: Helpdesk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 64 * 1024  # the head and body of an answer leave in one write, not two
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            received = Received(self.path, headers, raw, helpdesk._signed(raw, headers.get("x-signature-256", "")),
                                self.client_address[1])
            answer = helpdesk._record(received)
            helpdesk._open.wait(30)
            if answer.delay:
                time.sleep(answer.delay)
            if answer.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                helpdesk._answered(received, None)
                return
            body = json.dumps({"received": received.event_id}).encode()
            if answer.body_size is not None:
                body = b"x" * answer.body_size
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if answer.cut else body)
                self.wfile.flush()
                if answer.cut:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except (BrokenPipeError, ConnectionResetError):  # the sender gave up (its timeout)
                self.close_connection = True
                helpdesk._answered(received, None)
                return
            helpdesk._answered(received, answer.status)

    return Handler
