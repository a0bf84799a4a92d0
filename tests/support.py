"""Plain helpers the tests share: paths, the test key, ports, waiting, logs, databases, a private Redis.

Fixtures live in conftest.py; everything here is an ordinary function or class, imported
with `from tests.support import ...`. No test module imports another test module.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, event, inspect, text

from app.extensions import db
from app.services.faq import KnowledgeBase
from app.services.faq_file import load_faq_file
from app.storage.database import init_storage, upgrade_schema

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_FAQ = PROJECT_ROOT / "instance" / "faq.yaml"
API_KEY = "sk-test-0123456789abcdef"


@cache
def shipped_knowledge_base() -> KnowledgeBase:
    """Return the shipped FAQ file's entries and concepts (what an empty database is seeded with)."""
    return load_faq_file(SHIPPED_FAQ)


@cache
def shipped_answers() -> dict[str, str]:
    """Return the shipped FAQ's answers by entry id."""
    return {entry.id: entry.answer for entry in shipped_knowledge_base().entries}


def chat(client: Any, message: str, conversation_id: str | None = None, status: int = 200) -> Any:
    """Ask a question with Flask's test client (in a conversation, if given); check the status; return the JSON."""
    body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
    response = client.post("/api/v1/chat", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def error_of(response: Any) -> tuple[int, str]:
    """Return an error answer's status and its code."""
    return response.status_code, response.get_json()["error"]["code"]


def read_log(path: Path) -> list[dict[str, Any]]:
    """Return the JSON lines an app wrote to its log file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def log_events(output: str) -> list[str]:
    """Return the events of the JSON lines in a process's output (other lines, gunicorn's own, skipped)."""
    return [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it is true or `timeout` seconds have passed; return whether it came true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def accepts_connections(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    if not wait_until(lambda: accepts_connections(port), timeout):
        raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


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


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest migration with Alembic, as `flask db upgrade` does."""
    app = Flask(__name__)
    app.config.update(DATABASE_URL=url, DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=0)  # one connection migrates
    init_storage(app)
    upgrade_schema(app)
    with app.app_context():
        db.engine.dispose()


def migrated_sqlite_file(path: Path) -> Path:
    """Create a SQLite file at `path` holding the migrated, empty schema, ready to be copied."""
    migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:  # fold the write-ahead log into the file, so one file is all
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    return path


def copy_database(template: Path, path: Path) -> str:
    """Copy a migrated SQLite file to `path` and return its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def drop_everything(url: str) -> None:
    """Empty a PostgreSQL database completely (tables, types, Alembic's version), so migrations start from zero."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def empty_tables(url: str) -> None:
    """Delete every stored row of a migrated PostgreSQL database, keeping its schema and its Alembic version."""
    engine = create_engine(url)
    with engine.begin() as connection:
        quote = connection.dialect.identifier_preparer.quote
        tables = [quote(name) for name in inspect(connection).get_table_names() if name != "alembic_version"]
        if tables:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()



class RoundTrips:
    """Count the round trips to PostgreSQL of an engine's connections, as libpq traces them.

    Every connection checked out of the engine's pool inside the block is traced (libpq's
    PQtrace, through psycopg's `pgconn.trace`): each round trip ends with the server's
    ReadyForQuery, whatever sent it (SQLAlchemy, psycopg directly, BEGIN, COMMIT).
    `statements` lists what was sent, for assertion messages.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.trace = tempfile.TemporaryFile()
        self.count = 0
        self.statements: list[str] = []

    def __enter__(self) -> RoundTrips:
        event.listen(self.engine.pool, "checkout", self._trace)
        event.listen(self.engine.pool, "checkin", self._untrace)
        return self

    def __exit__(self, *exc_info: object) -> None:
        event.remove(self.engine.pool, "checkout", self._trace)
        event.remove(self.engine.pool, "checkin", self._untrace)
        self.trace.seek(0)
        for line in self.trace.read().decode("utf-8", "replace").splitlines():
            fields = line.split("\t")
            if fields[1:2] == ["B"] and fields[3:4] == ["ReadyForQuery"]:
                self.count += 1
            elif fields[1:2] == ["F"] and fields[3:4] in (["Query"], ["Parse"]):
                self.statements.append(fields[4] if len(fields) > 4 else "")
        self.trace.close()

    def _trace(self, dbapi_connection: Any, *args: Any) -> None:
        dbapi_connection.pgconn.trace(self.trace.fileno())

    def _untrace(self, dbapi_connection: Any, *args: Any) -> None:
        dbapi_connection.pgconn.untrace()
