"""Deadlines that hold even while a server keeps a connection alive with filler bytes.

DeepSeek keeps a queued request's connection open with blank lines or `: keep-alive`
comments; each one restarts an HTTP read timeout, so a read timeout alone never fires.
`SocketWatchdog` shuts the socket down when its time is up, which ends any read blocked
on it at once (`shutdown()`, unlike `close()`, wakes a read blocked in another thread or
greenlet).
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time

import httpcore2


class Deadline:
    """A point in time by which a whole answer must be in."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Return the seconds left, never below zero."""
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        """Return whether the time is up."""
        return self.remaining() <= 0.0

    def http_timeout(self, connect: float) -> dict[str, float]:
        """Return httpcore2's transport timeouts (its "timeout" extension), none outlasting the deadline."""
        left = max(self.remaining(), 0.001)
        return {"connect": min(connect, left), "read": left, "write": left, "pool": left}


class SocketWatchdog:
    """Shut a response's socket down once `seconds` pass without a `touch()`.

    Untouched, it is a deadline for the whole body; touched on every real event of a
    stream, it bounds the wait for the first event and every gap between events. Once
    the `with` block is left it never fires, so a socket handed back to the pool is safe.
    """

    def __init__(self, response: httpcore2.Response, seconds: float, watcher: Watcher | None = None) -> None:
        self.response = response
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.fired = False
        self.ended = False
        self._watcher = watcher or WATCHER

    def __enter__(self) -> SocketWatchdog:
        self._watcher.watch(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._watcher.forget(self)

    def touch(self) -> None:
        """Push the deadline `seconds` into the future."""
        self.expires_at = time.monotonic() + self.seconds


class Watcher:
    """One thread for every watchdog of the process: it shuts the socket of each that is overdue.

    A thread per watchdog cost ~140 µs of CPU per DeepSeek call to start and stop; this one
    thread sleeps until the earliest deadline. A touched watchdog keeps its old place in the
    queue and is put back with its new deadline when that place comes up. The thread and its
    lock are made on first use in each process: after a fork, and after gevent has patched
    `threading` (gunicorn's workers import the app after patching).
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._guard = threading.Lock()  # held only while making the state below, never across a switch
        self._wake = threading.Condition()
        self._queue: list[tuple[float, int, SocketWatchdog]] = []
        self._order = itertools.count()

    def watch(self, watchdog: SocketWatchdog) -> None:
        """Start watching: shut the watchdog's socket if its deadline passes before `forget()`."""
        if self._pid != os.getpid():
            self._start()
        with self._wake:
            heapq.heappush(self._queue, (watchdog.expires_at, next(self._order), watchdog))
            if self._queue[0][2] is watchdog:  # sooner than what the thread sleeps until
                self._wake.notify()

    def forget(self, watchdog: SocketWatchdog) -> None:
        """Stop watching; the watchdog cannot fire once this returns."""
        with self._wake:
            watchdog.ended = True

    def _start(self) -> None:
        with self._guard:
            if self._pid == os.getpid():
                return
            wake, queue = self._wake, self._queue = threading.Condition(), []
            self._pid = os.getpid()  # before start(): under gevent it switches, and others must not come in here
            thread = threading.Thread(target=self._run, args=(wake, queue), name="socket-watchdogs", daemon=True)
            thread.start()

    def _run(self, wake: threading.Condition, queue: list[tuple[float, int, SocketWatchdog]]) -> None:
        order = self._order
        with wake:
            while True:
                now = time.monotonic()
                while queue and (queue[0][2].ended or queue[0][0] <= now):
                    _, _, watchdog = heapq.heappop(queue)
                    if watchdog.ended:
                        continue
                    if watchdog.expires_at > now:  # touched since it was queued
                        heapq.heappush(queue, (watchdog.expires_at, next(order), watchdog))
                        continue
                    watchdog.fired = True
                    shutdown_socket(watchdog.response)
                wake.wait(queue[0][0] - now if queue else None)


WATCHER = Watcher()


def shutdown_socket(response: httpcore2.Response) -> None:
    """Shut down the socket under a response so that blocked reads return at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:  # already closed by the other side
            pass
