"""Read a slow iterator in the background so its consumer can do something while it waits."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)


def with_heartbeats(source: Iterable[T], interval: float) -> Iterator[T | None]:
    """Yield the source's items as they come, and None after every `interval` seconds without one.

    The source is read in a background thread (a greenlet under gevent), so a consumer
    writing an HTTP stream can send keep-alive comments while the source blocks. A
    source's exception is raised here, in the consumer. To stop early, make the source
    stop (e.g. cancel the upstream request); the thread then ends by itself.
    """
    items: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()

    def pump() -> None:
        try:
            for item in source:
                items.put((_ITEM, item))
        except BaseException as error:  # handed to the consumer, who decides
            items.put((_ERROR, error))
        else:
            items.put((_END, None))

    threading.Thread(target=pump, name="stream-reader", daemon=True).start()
    while True:
        try:
            kind, value = items.get(timeout=interval)
        except queue.Empty:
            yield None
            continue
        if kind == _ITEM:
            yield value  # type: ignore[misc]
        elif kind == _END:
            return
        else:
            raise value  # type: ignore[misc]
