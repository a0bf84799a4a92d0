"""The daily DeepSeek token budget (DEEPSEEK_DAILY_TOKEN_BUDGET), shared by every process and instance.

Tokens are counted per UTC day under one Redis key per day (INCRBY in a MULTI with an
EXPIRE, so every worker of every instance adds to the same count atomically); the day's
key is new at UTC midnight, which resets the budget. The budget is checked before each
DeepSeek call and charged after it, so calls already under way when it runs out may
overshoot it by their own tokens.

Without Redis the count lives in this process only. When Redis stops answering, each
process counts in memory on its own until Redis is back (for a few seconds at a time,
so a dead Redis costs at most one short timeout now and then): questions are still
answered, spend stays capped per process, and a warning says so. Blocking every
DeepSeek answer because a counter is unreachable would hurt customers more than a
short stretch of less exact counting costs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import redis
import structlog

log = structlog.get_logger(__name__)

KEY_LIFETIME_SECONDS = 2 * 24 * 3600  # a day's key outlives its day, whatever the clocks' skew
REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, count in memory this long before trying Redis again


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(timezone.utc)


class DailyTokenBudget:
    """How many tokens DeepSeek may bill per UTC day, and how many it has billed today."""

    def __init__(
        self,
        limit: int,
        client: redis.Redis | None,
        key_prefix: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.limit = limit
        self._redis = client
        self._key_prefix = key_prefix
        self._clock = clock
        self._local: dict[str, int] = {}  # per day; used without Redis, or while Redis is away
        self._lock = threading.Lock()
        self._redis_retry_at = 0.0

    def exhausted(self) -> bool:
        """Return whether today's tokens are spent."""
        return self.spent() >= self.limit

    def spent(self) -> int:
        """Return the tokens billed today."""
        day = self._today()
        if self._redis_usable():
            try:
                return int(self._redis.get(self._key(day)) or 0)  # type: ignore[union-attr]
            except redis.RedisError as error:
                self._redis_failed(error)
        with self._lock:
            return self._local.get(day, 0)

    def spend(self, tokens: int) -> None:
        """Add tokens DeepSeek billed to today's count."""
        if tokens <= 0:
            return
        day = self._today()
        if self._redis_usable():
            try:
                with self._redis.pipeline(transaction=True) as pipeline:  # type: ignore[union-attr]
                    pipeline.incrby(self._key(day), tokens).expire(self._key(day), KEY_LIFETIME_SECONDS).execute()
                return
            except redis.RedisError as error:
                self._redis_failed(error)
        with self._lock:
            self._local = {day: self._local.get(day, 0) + tokens}  # earlier days are done with

    def seconds_until_reset(self) -> int:
        """Return the seconds until UTC midnight, when the budget resets."""
        now = self._clock()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
        return max(1, int((midnight - now).total_seconds()))

    def _today(self) -> str:
        return self._clock().date().isoformat()

    def _key(self, day: str) -> str:
        return f"{self._key_prefix}deepseek_tokens:{day}"

    def _redis_usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_retry_at

    def _redis_failed(self, error: redis.RedisError) -> None:
        self._redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning(
            "token_budget_storage_unavailable",
            error_type=type(error).__name__,
            detail="counting DeepSeek tokens in this process until Redis answers again",
        )
