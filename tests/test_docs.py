"""The OpenAPI spec and Swagger UI."""

from __future__ import annotations

import re

import yaml

from app.errors import HTTP_ERRORS, APIError

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
    statuses = {cls.status_code for cls in _subclasses(APIError)} | set(HTTP_ERRORS) - {404, 405}

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

    assert source["enum"] == ["faq", "llm", "faq_fallback"]
    for name in source["enum"]:
        assert f"`{name}`" in source["description"]
