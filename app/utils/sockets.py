"""Is an idle connection still open? A zero-timeout poll of its socket, never a round trip.

An idle connection (to DeepSeek, to PostgreSQL) has nothing to read until its server closes
it: then the socket turns readable (the server's goodbye, or end of file). Asking the
operating system costs ~1.5 µs and never blocks. Under gevent's monkey-patching
`select.poll` is gevent's cooperative version, about 30 times dearer and a trip through
the event loop, so the original is used: a zero-timeout poll has nothing to wait for.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Callable
from typing import Any


def os_poll() -> Callable[[], Any]:
    """Return the operating system's `select.poll`, even when gevent has patched the `select` module."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")
    return select.poll


def fileno_readable(fileno: int, poll: Callable[[], Any]) -> bool:
    """Return whether a file descriptor has something to read (an idle connection: closed by its server)."""
    if fileno < 0:  # no socket any more: as good as closed
        return True
    poller = poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))
