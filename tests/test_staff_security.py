"""The staff API beside the customer one: its own limits, no customer keys, tokens never logged, roles declared."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.extensions import db
from app.security.staff_auth import staff_required
from app.services.staff_accounts import ROLES
from tests.staff import add_staff, bearer, staff_command
from tests.support import read_log

CUSTOMER_KEY = "customer-key-0123456789"


def me(client, token=None, **kwargs):
    return client.get("/api/v1/staff/me", headers=bearer(token) if token else {}, **kwargs)


@pytest.fixture
def with_agent(make_app):
    """Build an app with the given settings and one agent, Dana; return its test client and Dana's token."""
    def build(**settings):
        app = make_app(**settings)
        return app.test_client(), add_staff(app, "Dana")

    return build


def test_each_account_has_its_own_staff_budget(with_agent):
    client, dana = with_agent(STAFF_RATE_LIMITS="3/minute")
    sam = add_staff(client.application, "Sam")

    answers = [me(client, dana) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[3].get_json()["error"]["code"] == "RATE_LIMIT_429"
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert me(client, dana, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 429  # per account, not per IP
    assert me(client, sam).status_code == 200


def test_failed_authentications_are_limited_per_client_ip(with_agent):
    client, token = with_agent(STAFF_AUTH_FAILURE_LIMITS="3/minute")

    failures = [me(client, "ggs_guess" + str(n)) for n in range(3)] + [me(client)]

    assert [failure.status_code for failure in failures] == [401, 401, 401, 429]
    assert [failure.headers["X-RateLimit-Remaining"] for failure in failures] == ["2", "1", "0", "0"]
    assert int(failures[3].headers["Retry-After"]) >= 1
    assert me(client, token).status_code == 200  # a valid token is never locked out by others' failures
    assert me(client, "ggs_guess", environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 401  # another client


def test_successes_do_not_use_the_failure_budget(with_agent):
    client, token = with_agent(STAFF_AUTH_FAILURE_LIMITS="2/minute")

    for _ in range(5):
        assert me(client, token).status_code == 200
    assert [me(client).status_code for _ in range(3)] == [401, 401, 429]


def test_staff_requests_leave_the_customer_budget_alone(with_agent):
    client, token = with_agent(RATE_LIMITS="2/minute")

    for _ in range(5):
        assert me(client, token).status_code == 200

    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200


def test_customer_api_keys_neither_guard_nor_open_the_staff_api(with_agent):
    client, token = with_agent(API_KEYS=CUSTOMER_KEY)

    assert me(client, token).status_code == 200
    assert me(client, CUSTOMER_KEY).status_code == 401
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(CUSTOMER_KEY)).status_code == 200


def test_the_request_line_names_the_staff_member_and_no_line_holds_a_token(app, client, log_file):
    agent, admin = add_staff(app, "Dana"), add_staff(app, "Sam", "admin")
    me(client, agent)
    client.get("/api/v1/staff/accounts", headers=bearer(agent))
    client.get("/api/v1/staff/accounts", headers=bearer(admin))
    staff_command(app, "revoke", "Dana")
    me(client, agent)
    rotated = staff_command(app, "rotate", "Sam").stdout.splitlines()[-1]
    me(client, rotated)
    me(client, admin)

    lines = [line for line in read_log(log_file) if line["event"] == "request"]
    assert [(line["status"], line.get("staff_id"), line.get("staff_name"), line.get("staff_role")) for line in lines] == [
        (200, 1, "Dana", "agent"),
        (403, 1, "Dana", "agent"),
        (200, 2, "Sam", "admin"),
        (401, None, None, None),
        (200, 2, "Sam", "admin"),
        (401, None, None, None),
    ]
    logged = log_file.read_text(encoding="utf-8")
    for token in (agent, admin, rotated):
        assert token not in logged
        assert token[4:20] not in logged  # not even a piece of one
    assert "ggs_" not in logged


def test_a_cors_preflight_needs_no_token(make_app):
    client = make_app(CORS_ORIGINS="https://console.example.com").test_client()

    response = client.options(
        "/api/v1/staff/me",
        headers={"Origin": "https://console.example.com", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://console.example.com"


def test_a_database_failure_is_a_json_500_and_no_401(app, client):
    token = add_staff(app, "Dana")
    with app.app_context():
        db.session.execute(text("DROP TABLE staff_accounts"))
        db.session.commit()

    response = me(client, token)

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "INTERNAL_ERROR"


def test_every_staff_route_declares_the_role_it_needs(app):
    staff_views = {rule.endpoint: app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/api/v1/staff/")}

    roles = {endpoint: getattr(view, "staff_role", None) for endpoint, view in staff_views.items()}
    assert set(roles.values()) <= set(ROLES), "decorate every staff view with @staff_required(role)"
    assert (roles["staff.me"], roles["staff.list_accounts"]) == ("agent", "admin")


def test_staff_required_guards_a_view_anywhere(make_app):
    app = make_app()

    @app.get("/reports")
    @staff_required("admin")
    def reports():
        return {"ok": True}

    agent, admin = add_staff(app, "Dana"), add_staff(app, "Sam", "admin")
    client = app.test_client()

    assert client.get("/reports").status_code == 401
    assert client.get("/reports", headers=bearer(agent)).status_code == 403
    assert client.get("/reports", headers=bearer(admin)).get_json() == {"ok": True}


def test_staff_required_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="unknown staff role 'owner'"):
        staff_required("owner")


def test_the_spec_names_every_role(client):
    schemas = client.get("/apispec_1.json").get_json()["components"]["schemas"]

    assert schemas["StaffMember"]["properties"]["role"]["enum"] == list(ROLES)
    assert schemas["StaffAccount"]["properties"]["role"]["enum"] == list(ROLES)
