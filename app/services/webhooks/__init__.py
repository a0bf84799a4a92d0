"""The helpdesk webhook: events written to an outbox table with the change that caused them, then delivered.

- outbox.py: `HelpdeskWebhooks`, kept in `app.extensions["webhooks"]`: `enqueue()` in the
  caller's transaction, `notify()` after its commit, the failed events, requeue, purge;
- helpdesk.py: the signed POST, the only code that talks to the helpdesk;
- dispatcher.py: the background thread that claims, sends and retries.

The dispatcher is started where a server starts serving (gunicorn's `post_worker_init`
in gunicorn.conf.py, `python run.py`), never by `create_app`: commands and tests build
apps that must not send anything. Tests start it themselves.
"""

from __future__ import annotations

from flask import Flask

from app.extensions import db
from app.services.webhooks.dispatcher import Dispatcher
from app.services.webhooks.outbox import EVENTS, HelpdeskWebhooks, WebhookSettings

__all__ = ["EVENTS", "HelpdeskWebhooks", "WebhookSettings", "init_webhooks", "start_dispatcher", "stop_dispatcher"]


def init_webhooks(app: Flask) -> HelpdeskWebhooks:
    """Check the webhook's settings (a URL without a secret stops the app) and keep the service on the app."""
    settings = WebhookSettings.from_config(app.config)
    with app.app_context():
        engine = db.engine
    webhooks = HelpdeskWebhooks(settings, engine)
    app.extensions["webhooks"] = webhooks
    return webhooks


def start_dispatcher(app: Flask) -> Dispatcher | None:
    """Start the app's webhook dispatcher in this process; None when HANDOFF_WEBHOOK_URL is empty."""
    webhooks: HelpdeskWebhooks = app.extensions["webhooks"]
    return webhooks.start_dispatcher()


def stop_dispatcher(app: Flask, timeout: float = 10.0) -> None:
    """Stop the app's webhook dispatcher in this process, if it runs."""
    webhooks: HelpdeskWebhooks = app.extensions["webhooks"]
    webhooks.stop_dispatcher(timeout)
