"""Where the rate limits are counted: sliding window counters, in Redis or in a `limits` storage.

Each limit ("50/minute") of each budget is two counters: the requests of the current window
and those of the previous one. A request is let in while

    previous count × (share of the previous window still inside the last minute) + current count

stays under the limit: the `limits` library's sliding window counter (Cloudflare's), O(1) in
time and memory per request whatever the limit and however many requests the client sent.
The moving window it replaces kept one list entry per request (~1 MB of Redis per 50,000
requests of one client) and searched that list on every request.

In Redis, one Lua script checks and spends every limit of a request and returns the counters
the X-RateLimit-* headers need: one round trip, atomic, so instances sharing Redis count
together exactly. The keys and arithmetic are those of `limits`' own Redis sliding window
(`LIMITS:{key}` and `LIMITS:{key}/-1`); its strategy spends one limit per call and reads the
headers with a second script, 2 round trips per limit. Elsewhere (`memory://`, the fallback
while Redis is away, any other `limits` storage) the `limits` storage counts, one call per limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import redis
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import SlidingWindowCounterSupport, Storage, storage_from_string

REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://", "unix://")
STORAGE_ERRORS = (StorageError, redis.RedisError)  # the storage did not answer
REDIS_KEY_PREFIX = "LIMITS"  # the prefix of `limits`' Redis storage, so the keys are the ones it would use

# KEYS: per limit, its previous and its current window's counter.  ARGV: per limit, the limit
# and the window in seconds.  Spends the limits in order and stops at the first one used up.
# Returns the 1-based number of that limit (0: none), then per limit checked: previous count,
# previous TTL (ms), current count, current TTL (ms), after this request.
SPEND_SCRIPT = """
local refused = 0
local windows = {}
for i = 1, #ARGV / 2 do
    local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[2 * i - 1])
    local expiry = tonumber(ARGV[2 * i]) * 1000
    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        -- the current window is over: it becomes the previous one
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = math.max(tonumber(redis.call('pttl', previous_key)), 0)
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = math.max(tonumber(redis.call('pttl', current_key)), 0)
    if math.floor(previous_count * previous_ttl / expiry) + current_count + 1 > limit then
        refused = i
    elseif redis.call('exists', current_key) == 1 then
        current_count = redis.call('incr', current_key)
    else
        redis.call('set', current_key, 1, 'PX', expiry * 2)
        current_count, current_ttl = 1, expiry * 2
    end
    table.insert(windows, previous_count)
    table.insert(windows, previous_ttl)
    table.insert(windows, current_count)
    table.insert(windows, current_ttl)
    if refused > 0 then
        break
    end
end
table.insert(windows, 1, refused)
return windows
"""


@dataclass(frozen=True)
class Spent:
    """What a request's budgets say: the one closest to running out, and whether it ran out."""

    limit: int
    remaining: int
    reset_at: int  # Unix time at which the window frees a request
    refused: bool

    def retry_after(self) -> int:
        """Return the seconds until this budget lets the client in again."""
        return max(1, math.ceil(self.reset_at - time.time()))


class Counter(Protocol):
    """Counts limits: spends them in order, stopping at the first used up."""

    def spend(self, limits: Sequence[tuple[RateLimitItem, str]]) -> Spent:
        """Spend each (limit, key) in order; return the state of the one refused, else the closest to running out."""

    def answers(self) -> bool:
        """Return whether the storage answers right now."""


class RedisCounter:
    """Every limit of a request in one Redis round trip (SPEND_SCRIPT)."""

    def __init__(self, uri: str, timeout: float) -> None:
        url = uri.replace("redis+unix://", "unix://", 1)
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.script = self.client.register_script(SPEND_SCRIPT)

    def spend(self, limits: Sequence[tuple[RateLimitItem, str]]) -> Spent:
        """Spend each (limit, key) in order in one script; return what the headers need."""
        keys: list[str] = []
        arguments: list[int] = []
        for item, key in limits:
            current = f"{REDIS_KEY_PREFIX}:{{{key}}}"
            keys += (f"{current}/-1", current)
            arguments += (item.amount, item.get_expiry())
        reply = self.script(keys=keys, args=arguments)
        refused = int(reply[0])
        states = [
            window_state(item, int(reply[i]), reply[i + 1] / 1000, int(reply[i + 2]), reply[i + 3] / 1000)
            for (item, _), i in zip(limits, range(1, len(reply), 4), strict=False)
        ]
        if refused:
            return _refused(states[refused - 1])
        return min(states, key=lambda state: state.remaining)

    def answers(self) -> bool:
        """Return whether Redis answers a PING."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


class StorageCounter:
    """Limits counted by a `limits` storage (memory, or any other it supports), one call per limit."""

    def __init__(self, storage: Storage) -> None:
        self.storage = cast(SlidingWindowCounterSupport, storage)  # every storage of `limits` 5 counts them
        self.health = storage.check

    def spend(self, limits: Sequence[tuple[RateLimitItem, str]]) -> Spent:
        """Spend each (limit, key) in order; return the state of the one refused, else the closest to running out."""
        states = []
        for item, key in limits:
            allowed = self.storage.acquire_sliding_window_entry(key, item.amount, item.get_expiry(), 1)
            state = window_state(item, *self.storage.get_sliding_window(key, item.get_expiry()))
            if not allowed:
                return _refused(state)
            states.append(state)
        return min(states, key=lambda state: state.remaining)

    def answers(self) -> bool:
        """Return whether the storage answers right now."""
        return bool(self.health())


def counter_for(uri: str, timeout: float) -> Counter:
    """Return the counter for RATELIMIT_STORAGE_URI: one script per request on Redis, else the `limits` storage."""
    if uri.startswith(REDIS_SCHEMES):
        return RedisCounter(uri, timeout)
    return StorageCounter(storage_from_string(uri, wrap_exceptions=True))


def failure_name(error: Exception) -> str:
    """Return the name of the storage's own error behind one of STORAGE_ERRORS."""
    return type(error.storage_error if isinstance(error, StorageError) else error).__name__


def window_state(item: RateLimitItem, previous_count: int, previous_ttl: float, current_count: int,
                 current_ttl: float) -> Spent:
    """Return a limit's state from its two windows (seconds left of each), as `limits`' get_window_stats does."""
    expiry = item.get_expiry()
    weighted = previous_count * previous_ttl / expiry + current_count
    remaining = max(0, item.amount - math.floor(weighted))
    frees_in = min(
        previous_ttl % (expiry / previous_count) if previous_count else math.inf,
        current_ttl % expiry if current_count else math.inf,
    )
    now = time.time()
    return Spent(item.amount, remaining, int(now + (0 if frees_in == math.inf else frees_in) + 1), refused=False)


def _refused(state: Spent) -> Spent:
    return Spent(state.limit, 0, state.reset_at, refused=True)
