"""The OpenAPI spec, Swagger UI, and the reference in docs/ held to the code."""

from __future__ import annotations

import re

import pytest
import yaml

from app.errors import HTTP_ERRORS, APIError, Forbidden
from instance.config import CONFIGS
from tests.markdown import DOCS, ROOT, anchors, code_names, documents, links, tables

UNDOCUMENTED = {"static", "flasgger.static", "flasgger.apidocs", "flasgger.oauth_redirect", "flasgger.apispec_1"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_spec_is_served_as_openapi_3(client):
    spec = client.get("/apispec_1.json").get_json()

    assert spec["openapi"].startswith("3.0")
    assert spec["info"]["title"] == "GreenGrocer Foods Support Chatbot API"


def test_every_route_and_method_is_documented(app, client):
    spec = client.get("/apispec_1.json").get_json()
    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNDOCUMENTED and not rule.rule.startswith("/apidocs")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}

    assert routes == documented


def test_every_error_code_is_in_the_spec(client):
    spec = client.get("/apispec_1.json").get_json()
    documented = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    codes = {cls.code for cls in _subclasses(APIError)} | {APIError.code} | {code for code, _ in HTTP_ERRORS.values()}

    assert codes <= documented


def test_every_chat_error_status_is_documented(client):
    responses = client.get("/apispec_1.json").get_json()["paths"]["/api/v1/chat"]["post"]["responses"]
    staff_only = {Forbidden.status_code}
    statuses = {cls.status_code for cls in _subclasses(APIError)} - staff_only | set(HTTP_ERRORS) - {404, 405}

    assert {str(status) for status in statuses} <= set(responses)


def test_the_spec_file_is_valid_yaml_with_the_request_schema(app):
    with open(app.root_path + "/api/openapi.yaml", encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)

    message = spec["components"]["schemas"]["ChatRequest"]["properties"]["message"]
    assert message["maxLength"] == app.config["MAX_MESSAGE_CHARS"]


def test_swagger_ui_page_works_offline_without_inline_script(client):
    page = client.get("/apidocs/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert "fonts.googleapis.com" not in html
    assert "http://" not in html and "https://" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # every script is a file
    assert "<style" not in html
    assert 'data-spec-url="/apispec_1.json"' in html


def test_swagger_ui_assets_are_served_locally(client):
    for path in ["/flasgger_static/swagger-ui-bundle.js", "/flasgger_static/swagger-ui.css", "/static/apidocs.js"]:
        assert client.get(path).status_code == 200, path


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_spec_documents_every_answer_source(client):
    source = client.get("/apispec_1.json").get_json()["components"]["schemas"]["ChatResponse"]["properties"]["source"]

    assert source["enum"] == ["faq", "llm", "faq_fallback", "handoff"]
    for name in source["enum"]:
        assert f"`{name}`" in source["description"]


# The reference in docs/: every setting, error code and route of the code is in its table,
# and every row of those tables is still in the code.

SETTINGS_READ_OUTSIDE_CONFIG = ["app", "instance", "tests", "bench", "gunicorn.conf.py", "run.py", "wsgi.py", ".ci/run"]
NOT_API_ROUTES = {"static", "flasgger.static", "flasgger.oauth_redirect"}
ALIASES = {"/apidocs/index.html"}  # the same Swagger UI page as /apidocs/


def error_codes() -> dict[str, set[int]]:
    """Return every error code the app can send, with its status(es)."""
    codes: dict[str, set[int]] = {}
    for cls in [APIError, *_subclasses(APIError)]:
        if "code" in vars(cls):
            codes.setdefault(cls.code, set()).add(cls.status_code)
    for status, (code, _) in HTTP_ERRORS.items():
        codes.setdefault(code, set()).add(status)
    return codes


def first_column(path, first_header: str) -> list[tuple[list[str], list[str]]]:
    """Return (names written as code in the first cell, the row) for every table of a document with that first header."""
    return [
        (code_names(row[0]), row)
        for table in tables(path.read_text(encoding="utf-8"))
        if table.header[0] == first_header
        for row in table.rows
    ]


def test_every_setting_is_in_a_table_of_the_configuration_reference():
    settings = {name for cls in CONFIGS.values() for name in dir(cls) if name.isupper()} | {"FLASK_ENV"}
    documented = {name for names, _ in first_column(DOCS / "configuration.md", "variable") for name in names}

    assert settings - documented == set()


def test_every_documented_setting_is_still_read_somewhere():
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for place in SETTINGS_READ_OUTSIDE_CONFIG
        for path in ([ROOT / place] if (ROOT / place).is_file() else (ROOT / place).rglob("*.py"))
    )
    documented = {name for names, _ in first_column(DOCS / "configuration.md", "variable") for name in names}

    assert {name for name in documented if not re.search(rf"\b{name}\b", sources)} == set()


def test_every_error_code_is_in_the_error_table_with_its_status():
    rows = first_column(DOCS / "errors.md", "code")
    documented = {names[0]: int(row[1]) for names, row in rows}

    assert len(rows) == len(documented), "one row per code"
    assert set(documented) == set(error_codes())
    assert {code: status for code, status in documented.items() if status not in error_codes()[code]} == {}


def api_routes(app) -> set[str]:
    """Return every route as "METHOD /path", its variables written <>."""
    return {
        f"{method} {re.sub(r'<[^>]*>', '<>', rule.rule)}"
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_API_ROUTES and rule.rule not in ALIASES
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def documented_routes(path) -> set[str]:
    """Return the "METHOD /path" rows of a document's endpoint tables, variables written <>."""
    return {re.sub(r"<[^>]*>", "<>", names[0]) for names, _ in first_column(path, "method and path") if names}


def test_the_api_reference_lists_every_route_and_no_other(app):
    assert documented_routes(DOCS / "api.md") == api_routes(app)


def test_the_readme_lists_only_routes_that_exist(app):
    assert documented_routes(ROOT / "README.md") - api_routes(app) == set()


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(document):
    broken = []
    for target in links(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists() or ROOT not in linked.parents:
            broken.append(target)
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked.read_text(encoding="utf-8"))):
            broken.append(target)

    assert broken == []


def test_the_docs_index_links_every_document():
    linked = {(DOCS / target.partition("#")[0]).resolve() for target in links((DOCS / "README.md").read_text())}

    assert {path for path in DOCS.glob("*.md") if path.name != "README.md"} - linked == set()
