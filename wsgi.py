"""The WSGI entry for production servers: `gunicorn -c gunicorn.conf.py wsgi:app`.

FLASK_ENV defaults to production. The schema is not migrated here (several processes
would race); run `flask --app wsgi db upgrade` once before starting (`make serve` does).
"""

from __future__ import annotations

from app import create_app

app = create_app()
