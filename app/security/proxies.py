"""Behind a reverse proxy: trust X-Forwarded-* from exactly TRUSTED_PROXIES hops.

With 0 (the default) X-Forwarded-For is ignored, so a client cannot dodge the rate limit
or fake its address in the logs by forging it. With 1 (one proxy, e.g. nginx in front),
the address that proxy saw is the client's, for limits and logs alike.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_proxies(app: Flask) -> None:
    """Wrap the app in werkzeug's ProxyFix when it runs behind trusted proxies."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
