"""gunicorn settings for production, every one from the environment.

gevent workers: a chat spends seconds waiting on DeepSeek, so each worker serves up to
GUNICORN_WORKER_CONNECTIONS chats at once instead of one (a sync worker). Keep this
file free of imports that gevent must patch first: it is loaded by the master, before
the workers patch the standard library.
"""

from __future__ import annotations

import os
import shutil
import tempfile

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Streams last minutes; gevent workers heartbeat on their own, so this only catches a stuck worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
accesslog = None  # the app writes one JSON line per request
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "greengrocer-chatbot"

# Prometheus multiprocess mode: each worker writes its samples to files here and
# /metrics adds them up. Set in the master so every worker inherits it.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"greengrocer-metrics-{os.getpid()}"))


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start with an empty metrics folder, and warn when limits would be counted per process."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)
    storage = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    if storage.startswith("memory") and server.cfg.workers > 1:
        server.log.warning(
            "RATELIMIT_STORAGE_URI is memory://: each of the %d workers counts its own rate limits, so "
            "clients get %d times RATE_LIMITS. Set RATELIMIT_STORAGE_URI=redis://... to share them.",
            server.cfg.workers,
            server.cfg.workers,
        )


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop a dead worker's live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _chatbot_app(worker):  # type: ignore[no-untyped-def]
    """Return the worker's app if it is the chatbot's (the benchmark's ceiling is served with this file too)."""
    app = getattr(worker, "wsgi", None)
    return app if "webhooks" in getattr(app, "extensions", {}) else None


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Start the worker's helpdesk webhook dispatcher: here, after gevent has patched threading, once per worker."""
    app = _chatbot_app(worker)
    if app is not None:
        from app.services.webhooks import start_dispatcher

        start_dispatcher(app)


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    """Let the worker's webhook dispatcher finish the attempt under way (within the graceful timeout)."""
    app = _chatbot_app(worker)
    if app is not None:
        from app.services.webhooks import stop_dispatcher

        stop_dispatcher(app, timeout=max(graceful_timeout - 5, 1))
