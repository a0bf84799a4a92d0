"""The staff API's authentication and roles, on SQLite and PostgreSQL: 401, 403, and revocation on every instance."""

from __future__ import annotations

import hashlib

import pytest

from tests.staff import add_staff, bearer, staff_command

pytestmark = pytest.mark.both_databases

ROUTES = ["/api/v1/staff/me", "/api/v1/staff/accounts"]


@pytest.fixture
def agent(app):
    return add_staff(app, "Dana", "agent")


@pytest.fixture
def admin(app):
    return add_staff(app, "Sam", "admin")


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {"code": "UNAUTHORIZED", "message": "Send a valid staff token as 'Authorization: Bearer <token>'."}
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="staff"'


def test_me_says_who_the_token_belongs_to(client, agent, admin):
    assert client.get("/api/v1/staff/me", headers=bearer(agent)).get_json() == {"id": 1, "name": "Dana", "role": "agent"}
    assert client.get("/api/v1/staff/me", headers=bearer(admin)).get_json() == {"id": 2, "name": "Sam", "role": "admin"}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic RGFuYTpzZWNyZXQ="},
        {"Authorization": "Token ggs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"},
        bearer("ggs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"),  # well formed, unknown
        bearer("not-a-staff-token"),
        bearer("ggs_" + "x" * 500),
    ],
    ids=["none", "empty", "bearer-alone", "bearer-blank", "basic", "wrong-scheme", "unknown", "no-prefix", "huge"],
)
def test_without_a_valid_token_every_staff_route_is_401(client, agent, route, headers):
    assert_unauthorized(client.get(route, headers=headers))


@pytest.mark.parametrize("variant", ["prefix", "suffix", "case", "scheme-case"])
def test_only_the_exact_token_is_accepted(client, agent, variant):
    headers = {
        "prefix": bearer("x" + agent),
        "suffix": bearer(agent + "x"),
        "case": bearer(agent.swapcase()),
        "scheme-case": {"Authorization": f"bEaReR {agent}"},  # the scheme is case-insensitive (RFC 7235)
    }[variant]

    response = client.get("/api/v1/staff/me", headers=headers)

    if variant == "scheme-case":
        assert response.status_code == 200
    else:
        assert_unauthorized(response)


def test_a_hash_of_the_token_is_not_a_token(client, agent):
    assert_unauthorized(client.get("/api/v1/staff/me", headers=bearer(hashlib.sha256(agent.encode()).hexdigest())))


def test_a_revoked_token_is_401_on_every_route(client, agent, admin):
    staff_command(client.application, "revoke", "Sam")

    for route in ROUTES:
        assert_unauthorized(client.get(route, headers=bearer(admin)))
    assert client.get("/api/v1/staff/me", headers=bearer(agent)).status_code == 200


def test_an_agent_may_not_use_an_admin_route(client, agent):
    response = client.get("/api/v1/staff/accounts", headers=bearer(agent))

    assert response.status_code == 403
    assert response.get_json() == {
        "error": {"code": "FORBIDDEN", "message": "Your staff role does not allow this; ask an admin."}
    }
    assert "WWW-Authenticate" not in response.headers


def test_an_admin_may_use_agent_and_admin_routes(client, admin):
    assert client.get("/api/v1/staff/me", headers=bearer(admin)).status_code == 200
    assert client.get("/api/v1/staff/accounts", headers=bearer(admin)).status_code == 200


def test_accounts_lists_every_account_and_never_a_secret(client, agent, admin):
    staff_command(client.application, "revoke", "Dana")

    response = client.get("/api/v1/staff/accounts", headers=bearer(admin))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    accounts = response.get_json()["accounts"]
    assert [(a["id"], a["name"], a["role"]) for a in accounts] == [(1, "Dana", "agent"), (2, "Sam", "admin")]
    assert [set(a) for a in accounts] == [{"id", "name", "role", "created_at", "revoked_at"}] * 2
    assert accounts[0]["revoked_at"].endswith("+00:00") and accounts[0]["revoked_at"] >= accounts[0]["created_at"]
    assert accounts[1]["revoked_at"] is None
    body = response.get_data(as_text=True)
    for token in (agent, admin):
        assert token not in body and hashlib.sha256(token.encode()).hexdigest() not in body


def test_revoking_on_one_instance_stops_the_token_on_another_at_once(make_app):
    first, second = make_app(), make_app()  # two instances, one database
    token = add_staff(first, "Dana")
    other = second.test_client()
    assert other.get("/api/v1/staff/me", headers=bearer(token)).status_code == 200

    staff_command(first, "revoke", "Dana")

    assert_unauthorized(other.get("/api/v1/staff/me", headers=bearer(token)))
    assert_unauthorized(first.test_client().get("/api/v1/staff/me", headers=bearer(token)))


def test_rotating_on_one_instance_swaps_the_token_on_another_at_once(make_app):
    first, second = make_app(), make_app()
    old = add_staff(first, "Dana")
    other = second.test_client()
    assert other.get("/api/v1/staff/me", headers=bearer(old)).status_code == 200

    new = staff_command(first, "rotate", "Dana").stdout.splitlines()[-1]

    assert_unauthorized(other.get("/api/v1/staff/me", headers=bearer(old)))
    assert other.get("/api/v1/staff/me", headers=bearer(new)).get_json()["name"] == "Dana"
