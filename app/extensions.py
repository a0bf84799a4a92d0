"""Extension objects, created once and unbound; `create_app` binds them with `init_app`.

Only extensions that keep no per-app state live here. flasgger's `Swagger` (caches the
spec and wraps `app.add_url_rule`) and flask-talisman's `Talisman` (keeps `self.app`)
remember the last app they were bound to, so `init_docs` and `init_security` build
one per app instead.
"""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.storage.models import Base

# Bound once per app: a second init_app on the same app would rebuild the storage and
# reset every counter. Limits and storage come from the app's config (RATE_LIMITS,
# RATELIMIT_STORAGE_URI); the limiter's own headers are off because ours send
# Retry-After only where it means something (see app/security/rate_limits.py).
limiter = Limiter(key_func=get_remote_address, strategy="moving-window", headers_enabled=False)

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
