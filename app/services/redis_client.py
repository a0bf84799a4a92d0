"""The app's one Redis client (REDIS_URL), for state every process and instance must share.

Without REDIS_URL there is none, and whoever needs shared state falls back to what one
process can do alone (and says so in its docs). The client connects lazily and pools its
connections; a short timeout keeps a dead Redis from holding a request up for long.
"""

from __future__ import annotations

import redis
from flask import Flask

SOCKET_TIMEOUT_SECONDS = 0.5


def init_redis(app: Flask) -> redis.Redis | None:
    """Create the app's Redis client from REDIS_URL (None when it is empty) and keep it in `app.extensions`."""
    url = app.config["REDIS_URL"]
    client = connect(url) if url else None
    app.extensions["redis"] = client
    return client


def connect(url: str) -> redis.Redis:
    """Return a client for a Redis URL that gives up quickly when Redis does not answer."""
    return redis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS
    )
