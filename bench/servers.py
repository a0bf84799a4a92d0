"""The benchmark's processes and services: the stand-in, gunicorn servers, PostgreSQL and Redis.

Everything is started and stopped by the benchmark itself; what it owns is its own
database (`bench`, emptied at the start of a run) and its own Redis keys (a fresh prefix
in db 5, deleted at the end).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Wait until GET `url` answers 200; fail with the log's tail if the process dies or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} never answered:\n{log.read_text()[-3000:]}")


@dataclass
class Process:
    """A process the benchmark started, with its log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """Return the base URL it serves."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """Return the pids of the process's children (gunicorn's workers)."""
        return children(self.process.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop it gracefully (SIGTERM), then kill it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_standin(workdir: Path, **settings: float) -> Process:
    """Start the asyncio DeepSeek stand-in (bench/standin.py)."""
    port = free_port()
    log = workdir / "standin.log"
    arguments = [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.standin", "--port", str(port), *arguments],
            cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT,
        )
    standin = Process("stand-in", port, process, log)
    wait_until_up(f"{standin.url}/_bench/stats", process, log, timeout=20)
    return standin


def start_gunicorn(name: str, app: str, workdir: Path, env: dict[str, str]) -> Process:
    """Start `gunicorn -c gunicorn.conf.py <app>` with the given settings; wait for /health."""
    port = free_port()
    log = workdir / f"{name}.log"
    metrics = workdir / f"metrics-{name}"
    full_env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        **env,
    }
    with open(log, "wb") as output:  # the app's JSON log lines (LOG_TO_STDOUT) and gunicorn's own
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
            cwd=PROJECT, env=full_env, stdout=output, stderr=subprocess.STDOUT,
        )
    server = Process(name, port, process, log)
    wait_until_up(f"{server.url}/health", process, log)
    deadline = time.monotonic() + 30
    expected = int(full_env.get("WEB_CONCURRENCY", "1"))
    while len(server.workers()) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return server


def children(pid: int) -> list[int]:
    """Return a process's child pids."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return sorted(int(child) for child in text.split())
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
                except (OSError, IndexError, ValueError):
                    continue
        return sorted(found)


def rss_mib(pid: int) -> float | None:
    """Return a process's resident memory (VmRSS) in MiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def started_at(pid: int) -> float:
    """Return when a process started, in seconds since boot (as /proc/uptime counts)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def uptime() -> float:
    """Return the seconds since boot."""
    return float(Path("/proc/uptime").read_text().split()[0])


def pids_named(*names: str) -> list[int]:
    """Return the pids of processes whose command name is one of `names` (e.g. postgres)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU time used by groups of processes between `start()` and `stop()`, in cores."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups  # name -> the pids to count now
        self._before: dict[str, dict[int, float]] = {}
        self._booted_for = 0.0
        self.started = 0.0
        self.cores: dict[str, float] = {}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        """Note every group's CPU time now."""
        self._booted_for = uptime()
        self.started, self._before = time.monotonic(), self._snapshot()

    def stop(self) -> dict[str, float]:
        """Return the cores each group used since start().

        A process born meanwhile counts from 0; one that was not seen at the start but is
        older (a group's list can miss a process) is left out rather than counted whole.
        """
        elapsed = time.monotonic() - self.started
        after = self._snapshot()
        self.cores = {}
        for name, used in after.items():
            before = self._before[name]
            total = 0.0
            for pid, seconds in used.items():
                if pid in before:
                    total += seconds - before[pid]
                elif started_at(pid) >= self._booted_for - 0.05:
                    total += seconds
            self.cores[name] = total / elapsed
        return self.cores


def postgres_backends(url: str) -> list[int]:
    """Return the pids of the PostgreSQL backends connected to the database of `url`."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, connect_timeout=2) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
    except psycopg.Error:
        return []
    return [row[0] for row in rows]


def total_cpu_cores() -> tuple[float, float]:
    """Return (busy, total) CPU jiffies from /proc/stat, for whole-machine utilisation."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def prepare_database(url: str) -> None:
    """Create the benchmark's own PostgreSQL database if needed, migrate it, and empty it."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = plain.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "FLASK_ENV": "production", "DATABASE_URL": url, "LOG_FILE": "", "LOG_TO_STDOUT": "false"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT, env=env, check=True, capture_output=True,
    )
    with psycopg.connect(plain, autocommit=True) as connection:
        # Not TRUNCATE: the knowledge base refers to messages (a promoted question), and must stay.
        connection.execute("DELETE FROM conversations")  # their messages, feedback and webhook events with them


def count_rows(url: str) -> dict[str, int]:
    """Return how many conversations and messages the benchmark stored."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("conversations", "messages")
        }


def redis_available(url: str) -> bool:
    """Return whether Redis answers at `url`."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete the benchmark's rate-limit keys (and only those); return how many."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)
