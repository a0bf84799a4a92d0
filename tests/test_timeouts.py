"""SocketWatchdog: one thread shuts the sockets of overdue responses, on real loopback connections."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpcore2
import pytest

from app.services.timeouts import SocketWatchdog, Watcher


@pytest.fixture
def connect() -> Iterator[Callable[[], tuple[httpcore2.Response, socket.socket]]]:
    """Open loopback connections; return a response over each, and the server's end of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    opened: list[socket.socket] = []

    def open_one() -> tuple[httpcore2.Response, socket.socket]:
        stream = httpcore2.SyncBackend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=2)
        peer, _ = listener.accept()
        opened.append(peer)
        return httpcore2.Response(200, extensions={"network_stream": stream}), peer

    yield open_one
    for peer in opened:
        peer.close()
    listener.close()


def read_blocked(response: httpcore2.Response) -> float:
    """Block on a read until the socket is shut; return how long it took."""
    started = time.monotonic()
    assert response.extensions["network_stream"].read(1024, timeout=10) == b""
    return time.monotonic() - started


def test_a_watchdog_ends_a_blocked_read_at_its_deadline(connect):
    response, _ = connect()

    with SocketWatchdog(response, 0.3) as watchdog:
        elapsed = read_blocked(response)

    assert watchdog.fired and 0.25 < elapsed < 1.5


def test_touching_pushes_the_deadline_back(connect):
    response, peer = connect()
    stream = response.extensions["network_stream"]

    with SocketWatchdog(response, 0.4) as watchdog:
        for _ in range(4):  # 0.8 s in all, never 0.4 s without a touch
            peer.sendall(b"x")
            assert stream.read(1, timeout=2) == b"x"
            watchdog.touch()
            time.sleep(0.2)
        assert not watchdog.fired
        elapsed = read_blocked(response)

    assert watchdog.fired and 0.15 < elapsed < 1.5


def test_a_watchdog_left_in_time_never_fires(connect):
    response, peer = connect()

    with SocketWatchdog(response, 0.2) as watchdog:
        pass
    time.sleep(0.4)
    peer.sendall(b"still open")

    assert not watchdog.fired
    assert response.extensions["network_stream"].read(1024, timeout=2) == b"still open"


def test_each_watchdog_keeps_its_own_deadline(connect):
    """A short deadline added after a long one still fires first."""
    slow, _ = connect()
    fast, _ = connect()
    times: dict[str, float] = {}

    def wait(name: str, response: httpcore2.Response) -> None:
        times[name] = read_blocked(response)

    with SocketWatchdog(slow, 1.2), SocketWatchdog(fast, 0.2):
        readers = [threading.Thread(target=wait, args=args) for args in (("slow", slow), ("fast", fast))]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(5)

    assert times["fast"] < 0.8 < 1.0 < times["slow"] < 2.5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_worker_gets_its_own_watch_thread(connect):
    watcher = Watcher()
    response, _ = connect()
    with SocketWatchdog(response, 0.1, watcher) as watchdog:  # the thread now runs in this process
        read_blocked(response)
    assert watchdog.fired
    child_response, _ = connect()

    pid = os.fork()
    if pid == 0:  # the child: the parent's thread did not come along
        code = 1
        try:
            with SocketWatchdog(child_response, 0.1, watcher) as child_watchdog:
                elapsed = read_blocked(child_response)
            code = 0 if child_watchdog.fired and elapsed < 2 else 1
        finally:
            os._exit(code)  # never back into pytest
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
