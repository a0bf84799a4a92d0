"""Optional client keys (API_KEYS) and trusted proxies (TRUSTED_PROXIES)."""

from __future__ import annotations

import pytest

from tests.support import read_log

KEYS = "key-one-0123456789,key-two-9876543210"


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=KEYS).test_client()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(""), {"Authorization": "Basic a2V5LW9uZQ=="}, {"Authorization": "key-one-0123456789"},
     bearer("key-one-0123456789x"), bearer("key-one")],
)
def test_without_a_valid_key_the_api_is_401(keyed, headers):
    response = keyed.post("/api/v1/chat", json={"message": "delivery hours"}, headers=headers)

    assert response.status_code == 401
    body = response.get_json()
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert body["metadata"]["error_code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_every_api_route_needs_the_key(keyed):
    cid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert keyed.get(f"/api/v1/conversations/{cid}").status_code == 401
    assert keyed.delete(f"/api/v1/conversations/{cid}").status_code == 401
    assert keyed.post("/api/v1/chat/stream", json={"message": "hi"}).status_code == 401


@pytest.mark.parametrize("key", ["key-one-0123456789", "key-two-9876543210"])
def test_any_configured_key_works(keyed, key):
    response = keyed.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer(key))

    assert response.status_code == 200


def test_each_key_has_a_budget_of_its_own(keyed):
    one, two = bearer("key-one-0123456789"), bearer("key-two-9876543210")

    def ask(headers, address):
        return keyed.post("/api/v1/chat", json={"message": "delivery hours"}, headers=headers,
                          environ_base={"REMOTE_ADDR": address}).status_code

    spent = [ask(one, f"10.0.0.{n}") for n in range(8)]  # TestingConfig: 8 per minute per key

    assert spent == [200] * 8
    assert ask(one, "10.9.9.9") == 429  # a new address does not reset a key's budget
    assert ask(two, "10.9.9.9") == 200


def test_the_key_is_never_logged_but_its_id_is(keyed, log_file):
    keyed.post("/api/v1/chat", json={"message": "delivery hours"}, headers=bearer("key-one-0123456789"))

    text = log_file.read_text(encoding="utf-8")
    assert "key-one-0123456789" not in text
    [line] = [entry for entry in read_log(log_file) if entry["event"] == "request"]
    assert len(line["api_key_id"]) == 12


def test_without_api_keys_no_key_is_needed(client):
    assert client.post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200


def test_trusted_proxies_zero_ignores_forged_forwarded_for(client, log_file):
    for n in range(5):
        client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"X-Forwarded-For": f"1.2.3.{n}"})

    forged = client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"X-Forwarded-For": "9.9.9.9"})

    assert forged.status_code == 429
    assert {line["client_ip"] for line in read_log(log_file) if line["event"] == "request"} == {"127.0.0.1"}


def test_one_trusted_proxy_gives_the_real_client_address(make_app, log_file):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    for _ in range(5):
        client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"X-Forwarded-For": "203.0.113.7"})

    same = client.post("/api/v1/chat", json={"message": "delivery hours"}, headers={"X-Forwarded-For": "203.0.113.7"})
    other = client.post("/api/v1/chat", json={"message": "delivery hours"},
                        headers={"X-Forwarded-For": "198.51.100.2"})
    spoofed = client.post("/api/v1/chat", json={"message": "delivery hours"},
                          headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"})  # the proxy appends the real one

    assert (same.status_code, other.status_code, spoofed.status_code) == (429, 200, 429)
    addresses = {line["client_ip"] for line in read_log(log_file) if line["event"] == "request"}
    assert addresses == {"203.0.113.7", "198.51.100.2"}
