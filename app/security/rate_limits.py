"""Rate limits for the API, counted with the `limits` library, and the X-RateLimit-* headers.

Every request to a rate-limited blueprint (/api/v1; CORS preflights excepted) spends:
- RATE_LIMITS (e.g. "200/hour;50/minute") of its client's budget: the client is its IP
  address, or for IPv6 its /RATELIMIT_IPV6_PREFIX network (default /64, what one home or
  phone connection is given, so rotating addresses inside it gains nothing);
- with a valid API key, API_KEY_RATE_LIMITS of that key's budget as well: the ceiling for
  everything sent with the key.
The client's budget is spent first, and a request it refuses costs the key nothing: one
abuser behind a public frontend's key runs out of their own budget, not everyone's.
The staff API (/api/v1/staff) has budgets of its own, spent by app/security/staff_auth.py:
STAFF_RATE_LIMITS per staff account, STAFF_AUTH_FAILURE_LIMITS per client for requests
without a valid staff token.

Budgets are counted in sliding window counters (app/security/rate_counters.py: O(1) per
request, every limit of a request in one Redis round trip) in RATELIMIT_STORAGE_URI:
`memory://` per process, `redis://` across processes and machines. When that storage stops
answering, RATELIMIT_FAIL_MODE decides: `open` (the default) counts in the process's own memory
until the storage answers again (tried every STORAGE_RETRY_SECONDS), `closed` refuses
with 503 RATE_LIMIT_UNAVAILABLE. Either way one warning is logged per outage.

Why not flask-limiter: it checks a request's limits sorted by window length, so a key's
limit was spent by requests the client's limit then refused; and it keeps its storage,
fallback and error settings on one process-wide object, so apps could not differ. Every
step of a request's limits is here, in `RateLimits.spend`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage

from app.errors import RateLimited, RateLimitUnavailable
from app.security.api_keys import key_id, valid_key
from app.security.cors import is_preflight
from app.security.rate_counters import STORAGE_ERRORS, Counter, Spent, StorageCounter, counter_for, failure_name

log = structlog.get_logger(__name__)

FAIL_MODES = ("open", "closed")
STORAGE_RETRY_SECONDS = 5.0  # how often a process counting in memory tries its storage again
REDIS_TIMEOUT_SECONDS = 0.5  # fail over fast, never hang on Redis


@dataclass(frozen=True)
class Budget:
    """One limit of one budget: its item ("50/minute"), whose budget ("client" or "key") and for whom."""

    item: RateLimitItem
    scope: str
    identity: str


class RateLimits:
    """One app's rate limits: its budgets, where they are counted, and what happens when that storage is away."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.client_limits = _limits_setting(config, "RATE_LIMITS")
        self.key_limits = _limits_setting(config, "API_KEY_RATE_LIMITS")
        self.staff_limits = _limits_setting(config, "STAFF_RATE_LIMITS")
        self.staff_failure_limits = _limits_setting(config, "STAFF_AUTH_FAILURE_LIMITS")
        self.key_prefix: str = config["RATELIMIT_KEY_PREFIX"]
        self.fail_open = config["RATELIMIT_FAIL_MODE"] == "open"
        self.counter = counter_for(config["RATELIMIT_STORAGE_URI"], REDIS_TIMEOUT_SECONDS)
        self.memory: Counter = StorageCounter(MemoryStorage())
        self.storage_lost_at: float | None = None  # when the storage last failed, while it is away

    def spend(self, client: str, key: str | None) -> Spent | None:
        """Spend a request's budgets, the client's first; stop at the first one that is used up."""
        budgets = [Budget(item, "client", client) for item in self.client_limits]
        if key is not None:
            budgets += [Budget(item, "key", key) for item in self.key_limits]
        return self.charge(budgets)

    def spend_staff(self, staff_id: int) -> Spent | None:
        """Spend a staff account's budget (STAFF_RATE_LIMITS), whatever address it comes from."""
        return self.charge([Budget(item, "staff", str(staff_id)) for item in self.staff_limits])

    def spend_staff_failure(self, client: str) -> Spent | None:
        """Spend the client's budget of staff requests without a valid token (STAFF_AUTH_FAILURE_LIMITS)."""
        return self.charge([Budget(item, "staff_auth_failure", client) for item in self.staff_failure_limits])

    def charge(self, budgets: list[Budget]) -> Spent | None:
        """Spend these budgets in order; stop at the first one that is used up. None when there are none."""
        if not budgets:
            return None
        counter = self._counter()
        limits = [(budget.item, budget.item.key_for(*self._identifiers(budget))) for budget in budgets]
        try:
            spent = counter.spend(limits)
        except STORAGE_ERRORS as error:
            self._storage_lost(failure_name(error))
            if not self.fail_open:
                raise RateLimitUnavailable() from None
            return self.memory.spend(limits)
        if counter is self.counter and self.storage_lost_at is not None:
            self.storage_lost_at = None
            log.info("rate_limit_storage_recovered")
        return spent

    def storage_answers(self) -> bool:
        """Return whether the rate-limit storage answers right now."""
        return self.counter.answers()

    def _identifiers(self, budget: Budget) -> tuple[str, ...]:
        ids = (budget.scope, budget.identity)
        return (self.key_prefix, *ids) if self.key_prefix else ids

    def _counter(self) -> Counter:
        """Return where to count: the storage, or memory while an open-mode storage is away and not due a retry."""
        if self.storage_lost_at is None or not self.fail_open:
            return self.counter
        if time.monotonic() - self.storage_lost_at >= STORAGE_RETRY_SECONDS:
            return self.counter  # try it again; a failure counts this request in memory and waits again
        return self.memory

    def _storage_lost(self, error_type: str) -> None:
        if self.storage_lost_at is None:
            log.warning(
                "rate_limit_storage_unreachable",
                error_type=error_type,
                fail_mode="open" if self.fail_open else "closed",
                detail="falling back to in-memory storage in this process until it answers again"
                if self.fail_open else "refusing requests with RATE_LIMIT_UNAVAILABLE until it answers again",
            )
        self.storage_lost_at = time.monotonic()


def init_rate_limits(app: Flask) -> None:
    """Check the rate-limit settings and give the app its own limits and counters."""
    mode = app.config["RATELIMIT_FAIL_MODE"]
    if mode not in FAIL_MODES:
        raise ValueError(f"RATELIMIT_FAIL_MODE must be open or closed, got {mode!r}")
    prefix = app.config["RATELIMIT_IPV6_PREFIX"]
    if not 1 <= prefix <= 128:
        raise ValueError(f"RATELIMIT_IPV6_PREFIX must be a prefix length from 1 to 128, got {prefix!r}")
    app.extensions["rate_limits"] = RateLimits(app.config)


def rate_limited(blueprint: Blueprint) -> Blueprint:
    """Make every route of the blueprint spend the client's and the API key's budgets, with their headers."""
    blueprint.before_request(spend_budgets)
    blueprint.after_request(add_rate_limit_headers)
    return blueprint


def spend_budgets() -> None:
    """Spend this request's budgets; refuse it with 429 when one is used up."""
    if is_preflight():  # the browser sends it on its own, before the request that counts
        return
    key = valid_key()
    enforce(current_app.extensions["rate_limits"].spend(client_network(), key_id(key) if key else None))


def enforce(spent: Spent | None) -> None:
    """Keep what the budgets say for the headers; refuse the request with 429 when one is used up."""
    g.rate_limit = spent
    if spent is not None and spent.refused:
        seconds = spent.retry_after()
        raise RateLimited(
            f"{RateLimited.message} Please try again in {seconds} second{'s' if seconds != 1 else ''}.",
            retry_after=seconds,
        )


def add_rate_limit_headers(response: Response) -> Response:
    """Tell the client the limit closest to running out, what is left of it and when its window resets."""
    spent: Spent | None = g.get("rate_limit")
    if spent is not None:
        response.headers["X-RateLimit-Limit"] = str(spent.limit)
        response.headers["X-RateLimit-Remaining"] = str(spent.remaining)
        response.headers["X-RateLimit-Reset"] = str(spent.reset_at)
    return response


def client_network() -> str:
    """Return whom the client budget counts for: the IPv4 address, or the IPv6 /RATELIMIT_IPV6_PREFIX network."""
    address = request.remote_addr or "127.0.0.1"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an IP (a Unix socket): count it as it is
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 client seen through an IPv6 socket
            return str(ip.ipv4_mapped)
        prefix = current_app.config["RATELIMIT_IPV6_PREFIX"]
        host_bits = 128 - prefix
        return str(ipaddress.IPv6Network((int(ip) >> host_bits << host_bits, prefix)))
    return str(ip)


def _limits_setting(config: Mapping[str, Any], name: str) -> list[RateLimitItem]:
    """Parse a limits setting ("200/hour;50/minute"; empty for none), naming it if it is wrong."""
    value = config[name].strip()
    if not value:
        return []
    try:
        return parse_many(value)
    except ValueError as error:
        raise ValueError(f"{name}: {error} (write it like 200/hour;50/minute)") from None
