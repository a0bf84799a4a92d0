"""Swagger UI at /apidocs/: a current swagger-ui-dist, vendored unchanged, served from this app only.

What the page does in a browser (every operation listed, no CSP violation, nothing fetched
from elsewhere) is tested in tests/browser/test_apidocs.py.
"""

from __future__ import annotations

import hashlib
import json
import re

from app.api.docs import SWAGGER_UI_DIR, SWAGGER_UI_VERSION


def vendored(name: str) -> bytes:
    return (SWAGGER_UI_DIR / name).read_bytes()


def test_the_vendored_files_are_swagger_ui_dist_unchanged():
    package = json.loads(vendored("package.json"))
    sums = [line.split() for line in vendored("SHA256SUMS").decode().splitlines() if line.strip()]

    assert (package["name"], package["version"], package["license"]) == (
        "swagger-ui-dist", SWAGGER_UI_VERSION, "Apache-2.0")
    assert int(SWAGGER_UI_VERSION.split(".")[0]) >= 5
    assert {name for _, name in sums} >= {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"}
    for digest, name in sums:
        assert hashlib.sha256(vendored(name)).hexdigest() == digest, name


def test_the_docs_page_loads_the_vendored_swagger_ui(client):
    html = client.get("/apidocs/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    for name in ["swagger-ui-bundle.js", "swagger-ui.css"]:
        [url] = [asset for asset in assets if asset.endswith("/" + name)]
        served = client.get(url)
        assert served.status_code == 200
        assert served.get_data() == vendored(name), url
