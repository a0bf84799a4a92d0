"""CORS on /api/v1 for frontends on other origins: CORS_ORIGINS, preflights, exposed headers."""

from __future__ import annotations

import pytest

from app.security.cors import allowed_origins
from instance.config import DevelopmentConfig, ProductionConfig, TestingConfig

FRONTEND = "http://localhost:5173"
PREFLIGHT = {
    "Origin": FRONTEND,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS="http://localhost:*, https://shop.example.com").test_client()


def test_an_allowed_origin_may_post_and_read_the_headers_a_frontend_needs(cors_client):
    response = cors_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": FRONTEND})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "Origin" in response.headers.get_all("Vary")
    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Retry-After", "X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_preflight_from_an_allowed_origin_is_answered(cors_client):
    response = cors_client.options("/api/v1/chat/stream", headers=PREFLIGHT)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert response.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example.com",
        "HTTPS://SHOP.EXAMPLE.COM",
        "http://localhost:3000",
        "http://localhost:8080",
    ],
)
def test_each_configured_origin_is_allowed(cors_client, origin):
    response = cors_client.get("/api/v1/conversations/unknown", headers={"Origin": origin})

    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == origin  # errors are readable too


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.net",
        "http://shop.example.com",  # wrong scheme
        "https://shop.example.com.evil.net",
        "http://localhost:5173.evil.net",
        "http://localhost",
        "http://127.0.0.1:5173",
        "null",
    ],
)
def test_other_origins_get_no_cors_headers(cors_client, origin):
    actual = cors_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": origin})
    preflight = cors_client.options("/api/v1/chat", headers={**PREFLIGHT, "Origin": origin})

    for response in (actual, preflight):
        assert not [name for name in response.headers.keys() if name.startswith("Access-Control-")]


def test_cors_covers_the_api_only(cors_client):
    for path in ["/", "/health", "/apispec_1.json"]:
        response = cors_client.get(path, headers={"Origin": FRONTEND})
        assert "Access-Control-Allow-Origin" not in response.headers, path


def test_a_request_without_an_origin_gets_no_cors_headers(cors_client):
    response = cors_client.post("/api/v1/chat", json={"message": "delivery hours"})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_rate_limited_answer_tells_the_frontend_when_to_retry(cors_client):
    for _ in range(5):
        cors_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": FRONTEND})

    limited = cors_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": FRONTEND})

    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]
    assert limited.headers["Retry-After"]


def test_preflights_do_not_count_against_the_rate_limit(cors_client):
    for _ in range(10):
        preflight = cors_client.options("/api/v1/chat", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert "X-RateLimit-Remaining" not in preflight.headers

    statuses = [
        cors_client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": FRONTEND}).status_code
        for _ in range(6)
    ]

    assert statuses == [200] * 5 + [429]  # TestingConfig: 5 per minute, untouched by the preflights


def test_production_allows_no_origin_by_default(make_app):
    client = make_app(FLASK_ENV="production").test_client()

    response = client.options(
        "/api/v1/chat", headers={**PREFLIGHT, "X-Forwarded-Proto": "https"}, base_url="https://localhost"
    )

    assert ProductionConfig.CORS_ORIGINS == "" and TestingConfig.CORS_ORIGINS == ""
    assert "Access-Control-Allow-Origin" not in response.headers


def test_development_allows_local_frontends_on_any_port(make_app):
    client = make_app(FLASK_ENV="development").test_client()

    local = client.options("/api/v1/chat", headers={**PREFLIGHT, "Origin": "http://127.0.0.1:4200"})
    remote = client.options("/api/v1/chat", headers={**PREFLIGHT, "Origin": "https://example.com"})

    assert DevelopmentConfig.CORS_ORIGINS == "http://localhost:*,http://127.0.0.1:*"
    assert local.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:4200"
    assert "Access-Control-Allow-Origin" not in remote.headers


def test_a_star_alone_allows_every_origin(make_app):
    client = make_app(CORS_ORIGINS="*").test_client()

    response = client.post(
        "/api/v1/chat", json={"message": "delivery hours"}, headers={"Origin": "https://any.example"}
    )

    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://any.example")


@pytest.mark.parametrize(
    ("setting", "origin", "allowed"),
    [
        ("https://*.example.com", "https://app.example.com", True),
        ("https://*.example.com", "https://a.b.example.com", False),  # one label per *
        ("https://*.example.com", "https://example.com", False),
        ("https://shop.example.com/", "https://shop.example.com", True),  # a trailing slash is forgiven
        ("https://shop.example.com", "https://shopXexample.com", False),  # dots are literal
        ("", "http://localhost:5000", False),
        (" , ", "http://localhost:5000", False),
    ],
)
def test_origin_patterns(setting, origin, allowed):
    patterns = allowed_origins(setting)

    assert any(pattern.match(origin) for pattern in patterns) is allowed
