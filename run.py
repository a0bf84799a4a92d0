"""Start the development server: HOST (default 127.0.0.1), PORT (default 5000), FLASK_ENV development.

The database schema is created or upgraded first, and the helpdesk webhook's dispatcher
started (when HANDOFF_WEBHOOK_URL is set). `FLASK_APP=run.py flask ...` runs the project's
commands against the same app.

For production use gunicorn (see docs/operations.md); this server is for trying the API locally.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from werkzeug.serving import WSGIRequestHandler, is_running_from_reloader

os.environ.setdefault("FLASK_ENV", "development")  # production would redirect plain HTTP to https

from app import create_app  # noqa: E402  (FLASK_ENV must be set first)
from app.services.webhooks import start_dispatcher  # noqa: E402
from app.storage.database import upgrade_schema  # noqa: E402
from app.utils.logger import address_for_logs  # noqa: E402

app = create_app()


class RequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging like the app: no access line, the client address as LOG_HASH_IP says."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing: the app's own `request` line replaces werkzeug's access line."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Write werkzeug's own lines (a malformed request, an error) with the client address as the logs show it."""
        address = (address_for_logs(self.address_string(), app.config) or "-").replace("%", "%%")
        getattr(logging.getLogger("werkzeug"), type)(f"{address} - - [{self.log_date_time_string()}] {message}", *args)


if __name__ == "__main__":
    upgrade_schema(app)  # create the database, or bring it up to date keeping its data
    if not app.debug or is_running_from_reloader():  # the reloader's watching parent serves nothing
        start_dispatcher(app)
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        threaded=True,
        request_handler=RequestHandler,
    )
