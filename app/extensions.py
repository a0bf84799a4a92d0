"""Extension objects, created once and unbound; `create_app` binds them with `init_app`.

Only extensions that keep no per-app state live here. flasgger's `Swagger` (caches the
spec and wraps `app.add_url_rule`) and flask-talisman's `Talisman` (keeps `self.app`)
remember the last app they were bound to, so `init_docs` and `init_security` build
one per app instead, as `init_security` also does for the rate limits
(`app.extensions["rate_limits"]`).
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.storage.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
