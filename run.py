"""Start the development server: HOST (default 127.0.0.1), PORT (default 5000), FLASK_ENV development.

The database schema is created or upgraded first. `FLASK_APP=run.py flask ...` runs
the project's commands against the same app.

For production use gunicorn (see docs/operations.md); this server is for trying the API locally.
"""

from __future__ import annotations

import os

os.environ.setdefault("FLASK_ENV", "development")  # production would redirect plain HTTP to https

from app import create_app  # noqa: E402  (FLASK_ENV must be set first)
from app.storage.database import upgrade_schema  # noqa: E402

app = create_app()

if __name__ == "__main__":
    upgrade_schema(app)  # create the database, or bring it up to date keeping its data
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")), threaded=True)
