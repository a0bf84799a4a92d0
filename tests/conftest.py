"""Fixtures: a DeepSeek stand-in on loopback, a fresh app wired to it for every test, live servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sqlalchemy import create_engine, inspect, text
from werkzeug.serving import make_server

from app import create_app
from app.services.llm import DeepSeekClient
from app.storage.database import upgrade_schema
from tests.deepseek_standin import StandIn

API_KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandIn]:
    """One stand-in for the session; tests reset it."""
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def standin(standin_server: StandIn) -> StandIn:
    """The stand-in DeepSeek, with no queued replies and no recorded requests."""
    standin_server.reset()
    return standin_server


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """Where this test's app writes its log."""
    return tmp_path / "logs" / "app.log"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL database from TEST_DATABASE_URL, emptied once so the migrations run for real."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set (no PostgreSQL to test against)")
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in inspect(connection).get_table_names():  # every table, whichever migration made it
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()
    return url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Where this test's app keeps conversations: a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'chatbot.db'}"


def sqlite_or_postgres(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, or the emptied PostgreSQL test database (skipped without one).

    A module whose tests must run on both databases overrides `database_url` with
    `database_url = pytest.fixture(params=["sqlite", "postgresql"])(sqlite_or_postgres)`.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatbot.db'}"
    url = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def empty_postgres(url: str) -> None:
    """Delete every stored row (conversations, staff accounts, ...), keeping the schema."""
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = [table for table in inspect(connection).get_table_names() if table != "alembic_version"]
        if tables:
            quoted = ", ".join(f'"{table}"' for table in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def make_app(standin: StandIn, log_file: Path, database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps in the testing config, talking to the stand-in, with a migrated database."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        config = {
            "FLASK_ENV": "testing",
            "DEEPSEEK_API_KEY": API_KEY,
            "DEEPSEEK_BASE_URL": standin.url,
            "DEEPSEEK_TIMEOUT": 3.0,
            "DEEPSEEK_RETRY_BACKOFF": 0.01,
            "DATABASE_URL": database_url,
            "LOG_FILE": str(log_file),
            "LOG_TO_STDOUT": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            **overrides,
        }
        app = create_app(config)
        upgrade_schema(app)
        apps.append(app)
        return app

    yield build
    for app in apps:
        llm = app.extensions["chatbot"].llm
        if llm is not None:
            llm.close()
        app.extensions["live_events"].close()
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()


@pytest.fixture
def make_client(standin: StandIn) -> Iterator[Callable[..., DeepSeekClient]]:
    """Build DeepSeek clients talking to the stand-in (or another `base_url`), closed after the test."""
    clients: list[DeepSeekClient] = []

    def build(**overrides: Any) -> DeepSeekClient:
        settings: dict[str, Any] = dict(
            api_key="sk-test", base_url=standin.url, model="deepseek-chat", timeout=2.0, max_retries=2,
            temperature=0.7, max_tokens=500, retry_backoff=0.01,
        )
        client = DeepSeekClient(**{**settings, **overrides})
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app in the testing config."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for `app`."""
    return app.test_client()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout} s") from None
            time.sleep(0.05)


class RedisProcess:
    """A private redis-server that a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self._process = subprocess.Popen(
            [str(shutil.which("redis-server")), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, as behind a dead network."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill the server, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis of this test's own, which it may stop mid-run."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (needed to stop Redis mid-run)")
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Serve apps with real threaded HTTP servers on loopback; `serve(app)` returns the base URL."""
    servers = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live_app(make_app: Callable[..., Flask], serve: Callable[[Flask], str]) -> tuple[Flask, str]:
    """An app served by a real threaded HTTP server on loopback, with a roomy limit and fast heartbeats."""
    app = make_app(RATE_LIMITS="1000/minute", STREAM_HEARTBEAT_SECONDS=0.1)
    return app, serve(app)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Return the JSON lines an app wrote to its log file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        default=bool(os.environ.get("REQUIRE_SERVICES")),
        help="fail, rather than skip, tests whose services (Redis, PostgreSQL, Chromium) are missing; "
        "CI sets it through REQUIRE_SERVICES=1",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under --require-services a skip is a failure: CI must not pass by skipping what it should run."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.config.getoption("--require-services") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under --require-services: {report.longrepr}"
