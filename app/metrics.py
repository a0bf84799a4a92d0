"""Prometheus metrics, correct across gunicorn workers.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py) makes every worker
write its samples to files there, and `exposition()` adds up all workers' files; without
it (development, tests) the process's own registry is served.

Every label takes values from a fixed set, whatever clients send: a request is labelled
by its route's URL rule (or `unmatched`) and by its method if it is a standard one (or
`other`), so no client can create series at will.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("http_requests_total", "HTTP requests by route, method and status.", ["route", "method", "status"])
REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to the response headers (a stream's body may take longer), by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMITED = Counter("rate_limited_requests_total", "Requests refused by this service's rate limit.")
ANSWERS = Counter("chat_answers_total", "Answers given, by source (faq, llm, ...).", ["source"])
DEEPSEEK_CALLS = Counter(
    "deepseek_calls_total", "DeepSeek calls by outcome (ok, cancelled or an error code) and mode.", ["outcome", "mode"]
)
DEEPSEEK_LATENCY = Histogram(
    "deepseek_call_duration_seconds",
    "DeepSeek call time, retries included, by outcome and mode (json or stream).",
    ["outcome", "mode"],
    buckets=LATENCY_BUCKETS,
)
DEEPSEEK_TOKENS = Counter("deepseek_tokens_total", "Tokens DeepSeek billed, by kind.", ["kind"])
DEEPSEEK_BUDGET_EXHAUSTED = Counter(
    "deepseek_budget_exhausted_total",
    "Questions that needed DeepSeek after the daily token budget was spent (answered from the FAQ, or refused).",
)
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total", "Helpdesk webhook delivery attempts by outcome (delivered, retry, failed).", ["outcome"]
)
WEBHOOK_OUTBOX = Gauge(
    "webhook_outbox_events",
    "Helpdesk webhook events pending or failed, as a dispatcher last counted them (every WEBHOOK_POLL_SECONDS).",
    ["status"],
    multiprocess_mode="livemostrecent",
)
for _outcome in WEBHOOK_OUTCOMES:  # every outcome is exposed from the start, at 0
    WEBHOOK_DELIVERIES.labels(_outcome)

LIVE_EVENT_SUBSCRIPTIONS = Gauge(
    "live_event_subscriptions",
    "Open live-event subscriptions (streams waiting for a change), summed over live workers.",
    multiprocess_mode="livesum",
)
LIVE_EVENT_PUBLISH_FAILURES = Counter(
    "live_event_publish_failures_total",
    "Live-event notifications Redis did not take (only the publishing process was notified).",
)

HANDOFF_TRIGGERS = ("customer_button", "customer_words", "model")
HANDOFFS = Counter("handoffs_total", "Conversations handed off to a person, by trigger.", ["trigger"])
for _trigger in HANDOFF_TRIGGERS:
    HANDOFFS.labels(_trigger)
CONVERSATIONS_WAITING = Gauge(
    "conversations_waiting",
    "Conversations waiting for a person, counted in the database after the latest change of state anywhere.",
    multiprocess_mode="livemostrecent",
)
HANDOFF_CLAIM_SECONDS = Histogram(
    "handoff_claim_seconds",
    "Time from a handoff (waiting_since) to an agent's claim.",
    buckets=(5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0),
)


_request_series: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}  # (route, method, status) -> children


def record_request(route: str | None, method: str, status: int, seconds: float | None) -> None:
    """Count one HTTP request by route rule and method, its time, and whether the rate limit refused it."""
    series = _request_series.get((route, method, status))
    if series is None:  # once per route, method and status: labels() validates and looks up every time
        label_route = route or UNMATCHED_ROUTE
        label_method = method if method in HTTP_METHODS else OTHER_METHOD
        series = (REQUESTS.labels(label_route, label_method, str(status)),
                  REQUEST_LATENCY.labels(label_route, label_method))
        if method in HTTP_METHODS:  # a bounded key: other methods are not kept, whatever clients send
            _request_series[(route, method, status)] = series
    series[0].inc()
    if seconds is not None:
        series[1].observe(seconds)
    if status == 429:
        RATE_LIMITED.inc()


def record_deepseek_call(outcome: str, mode: str, seconds: float, usage: object | None = None) -> None:
    """Count one DeepSeek call, its time and the tokens it used."""
    DEEPSEEK_CALLS.labels(outcome, mode).inc()
    DEEPSEEK_LATENCY.labels(outcome, mode).observe(seconds)
    if usage is not None:
        for kind, attribute in (
            ("prompt", "prompt_tokens"),
            ("completion", "completion_tokens"),
            ("cache_hit", "cache_hit_tokens"),
        ):
            DEEPSEEK_TOKENS.labels(kind).inc(getattr(usage, attribute) or 0)


def record_webhook_delivery(outcome: str) -> None:
    """Count one webhook delivery attempt by its outcome: delivered, retry or failed."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def set_webhook_outbox(counts: dict[str, int]) -> None:
    """Set the outbox gauge from a count of its events by status (pending, failed)."""
    for status, count in counts.items():
        WEBHOOK_OUTBOX.labels(status).set(count)


def exposition() -> bytes:
    """Return every worker's metrics in Prometheus' text format."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
