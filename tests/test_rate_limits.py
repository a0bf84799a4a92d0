"""Rate limits: IPv6 clients per network, API keys and clients both limited, and what happens when Redis goes away."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from app import create_app
from app.security.rate_limits import client_network
from app.storage.models import Conversation
from tests.support import read_log

KEY_ONE, KEY_TWO = "key-one-0123456789", "key-two-9876543210"


def chat(client, address="10.0.0.1", key=None, message="delivery hours"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/chat", json={"message": message}, headers=headers,
                       environ_base={"REMOTE_ADDR": address})


def statuses(client, addresses, key=None):
    return [chat(client, address, key).status_code for address in addresses]


def test_an_ipv6_client_rotating_addresses_in_its_64_shares_one_budget(client):
    rotating = [f"2001:db8:1:2::{n}" for n in range(1, 7)]

    assert statuses(client, rotating) == [200] * 5 + [429]  # TestingConfig: 5 per minute
    assert chat(client, "2001:db8:1:2:ffff:ffff:ffff:ffff").status_code == 429
    assert chat(client, "2001:db8:1:3::1").status_code == 200  # the next /64 is someone else


@pytest.mark.parametrize(("prefix", "neighbour", "status"), [(48, "2001:db8:1:ffff::1", 429),
                                                              (128, "2001:db8:1:2::2", 200)])
def test_the_ipv6_network_size_comes_from_config(make_app, prefix, neighbour, status):
    client = make_app(RATELIMIT_IPV6_PREFIX=prefix).test_client()

    assert statuses(client, ["2001:db8:1:2::1"] * 5) == [200] * 5
    assert chat(client, neighbour).status_code == status


def test_ipv4_clients_are_counted_per_address(client):
    assert statuses(client, ["192.0.2.1"] * 6) == [200] * 5 + [429]
    assert chat(client, "192.0.2.2").status_code == 200
    assert chat(client, "::ffff:192.0.2.1").status_code == 429  # the same client, written as IPv6


@pytest.mark.parametrize(
    ("address", "prefix", "network"),
    [
        ("203.0.113.9", 64, "203.0.113.9"),
        ("2001:db8:aa:bb:1:2:3:4", 64, "2001:db8:aa:bb::/64"),
        ("2001:DB8:aa:bb::1", 56, "2001:db8:aa::/56"),
        ("2001:db8::1", 128, "2001:db8::1/128"),
        ("::ffff:203.0.113.9", 64, "203.0.113.9"),
        ("fe80::1%eth0", 64, "fe80::/64"),
        ("not-an-address", 64, "not-an-address"),
    ],
)
def test_client_network(app, address, prefix, network):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        app.config["RATELIMIT_IPV6_PREFIX"] = prefix
        assert client_network() == network


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=f"{KEY_ONE},{KEY_TWO}", RATE_LIMITS="3/minute", API_KEY_RATE_LIMITS="5/minute")


def test_with_api_keys_both_the_key_and_the_client_limits_apply(keyed):
    client = keyed.test_client()

    first_client = statuses(client, ["10.0.0.1"] * 4, KEY_ONE)
    second_client = statuses(client, ["10.0.0.2"] * 3, KEY_ONE)
    third_client_other_key = statuses(client, ["10.0.0.3"], KEY_TWO)

    assert first_client == [200, 200, 200, 429]  # its own budget: 3
    assert second_client == [200, 200, 429]  # the key's budget: 5 in all
    assert third_client_other_key == [200]


def test_requests_the_client_limit_refuses_do_not_use_up_the_key(keyed):
    client = keyed.test_client()

    abuser = statuses(client, ["10.6.6.6"] * 30, KEY_ONE)
    others = statuses(client, ["10.0.0.1", "10.0.0.2"], KEY_ONE)

    assert abuser == [200] * 3 + [429] * 27
    assert others == [200, 200]


def test_the_headers_show_the_budget_closest_to_running_out(keyed):
    client = keyed.test_client()
    statuses(client, ["10.0.0.1"] * 3, KEY_ONE)

    fresh_client = chat(client, "10.0.0.2", KEY_ONE)  # its own budget: 2 left; the key's: 1 left
    without_key_use = chat(client, "10.0.0.3", KEY_TWO)  # 2 left of 3, 4 of 5
    refused = chat(client, "10.0.0.4", KEY_ONE), chat(client, "10.0.0.4", KEY_ONE)

    assert (fresh_client.headers["X-RateLimit-Limit"], fresh_client.headers["X-RateLimit-Remaining"]) == ("5", "1")
    assert (without_key_use.headers["X-RateLimit-Limit"], without_key_use.headers["X-RateLimit-Remaining"]) == (
        "3", "2")
    assert [r.status_code for r in refused] == [200, 429]
    assert (refused[1].headers["X-RateLimit-Limit"], refused[1].headers["X-RateLimit-Remaining"]) == ("5", "0")
    assert int(refused[1].headers["Retry-After"]) >= 1


def test_requests_without_a_valid_key_count_against_the_client(keyed):
    client = keyed.test_client()

    guesses = statuses(client, ["10.0.0.9"] * 4, "wrong-key")

    assert guesses == [401, 401, 401, 429]


def test_each_app_counts_in_its_own_memory(make_app):
    first, second = make_app().test_client(), make_app().test_client()

    assert statuses(first, ["10.0.0.1"] * 6) == [200] * 5 + [429]
    assert statuses(second, ["10.0.0.1"]) == [200]


def test_fail_open_counts_in_memory_while_redis_is_away_and_goes_back_to_it(
    make_app, private_redis, log_file, monkeypatch
):
    monkeypatch.setattr("app.security.rate_limits.STORAGE_RETRY_SECONDS", 0.0)
    client = make_app(RATELIMIT_STORAGE_URI=private_redis.url, RATE_LIMITS="3/minute").test_client()
    assert statuses(client, ["10.0.0.1"] * 2) == [200, 200]

    private_redis.stop()
    during = statuses(client, ["10.0.0.2"] * 4)
    private_redis.start()  # empty again: it kept nothing
    after = statuses(client, ["10.0.0.1"] * 4)

    assert during == [200, 200, 200, 429]  # counted in this process's memory meanwhile
    assert after == [200, 200, 200, 429]
    events = [(line["event"], line["level"]) for line in read_log(log_file) if "rate_limit_storage" in line["event"]]
    assert events == [("rate_limit_storage_unreachable", "warning"), ("rate_limit_storage_recovered", "info")]


def test_fail_closed_refuses_with_503_while_redis_is_away(make_app, private_redis, log_file):
    app = make_app(RATELIMIT_STORAGE_URI=private_redis.url, RATELIMIT_FAIL_MODE="closed")
    client = app.test_client()
    assert chat(client).status_code == 200

    private_redis.stop()
    refused = [chat(client) for _ in range(3)]
    read = client.get("/api/v1/conversations/3fa85f64-5717-4562-b3fc-2c963f66afa6",
                      environ_base={"REMOTE_ADDR": "10.0.0.1"})
    health = client.get("/health")
    private_redis.start()
    again = chat(client)

    for response in refused:
        assert response.status_code == 503
        body = response.get_json()
        assert body["error"]["code"] == "RATE_LIMIT_UNAVAILABLE"
        assert body["metadata"]["error_code"] == "RATE_LIMIT_UNAVAILABLE"
        assert "X-RateLimit-Remaining" not in response.headers
    assert read.status_code == 503 and read.get_json()["error"]["code"] == "RATE_LIMIT_UNAVAILABLE"
    assert health.status_code == 200  # only /api/v1 is limited
    assert again.status_code == 200
    with app.app_context():
        from app.extensions import db

        assert db.session.query(Conversation).count() == 2  # the refused questions were not stored
    lines = read_log(log_file)
    assert [line["event"] for line in lines if "rate_limit_storage" in line["event"]] == [
        "rate_limit_storage_unreachable", "rate_limit_storage_recovered"]
    assert not [line for line in lines if line["level"] == "error"]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("RATELIMIT_FAIL_MODE", "sometimes", "RATELIMIT_FAIL_MODE must be open or closed"),
        ("RATELIMIT_IPV6_PREFIX", 129, "RATELIMIT_IPV6_PREFIX must be"),
        ("RATELIMIT_IPV6_PREFIX", 0, "RATELIMIT_IPV6_PREFIX must be"),
        ("RATE_LIMITS", "lots", "RATE_LIMITS"),
        ("API_KEY_RATE_LIMITS", "5 per fortnight", "API_KEY_RATE_LIMITS"),
    ],
)
def test_bad_rate_limit_settings_stop_the_app_with_a_clear_error(log_file, setting, value, message):
    with pytest.raises(ValueError, match=message):
        create_app({"FLASK_ENV": "testing", "LOG_FILE": str(log_file), setting: value})


def test_empty_limits_mean_no_limit(make_app):
    client = make_app(RATE_LIMITS="", API_KEYS=KEY_ONE, API_KEY_RATE_LIMITS=" ").test_client()

    responses = [chat(client, key=KEY_ONE) for _ in range(12)]

    assert {response.status_code for response in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[-1].headers


def test_apps_sharing_redis_count_together_with_the_headers_of_one_budget(make_app, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    first, second = (make_app(RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix,
                              RATE_LIMITS="3/minute;100/hour").test_client() for _ in range(2))

    responses = [chat(app_client) for app_client in (first, second, first, second)]
    started = time.time()

    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == ["2", "1", "0", "0"]
    assert {response.headers["X-RateLimit-Limit"] for response in responses} == {"3"}
    for response in responses:
        assert started - 2 <= int(response.headers["X-RateLimit-Reset"]) <= started + 62
    assert 1 <= int(responses[-1].headers["Retry-After"]) <= 61


def redis_counts(server) -> tuple[int, int, int]:
    """Return Redis's commands run (INFO's own excepted), bytes sent to clients and memory used so far."""
    info = redis.Redis.from_url(server.url).info("all")
    commands = sum(value["calls"] for name, value in info.items()
                   if name.startswith("cmdstat_") and name != "cmdstat_info")
    return commands, info["total_net_output_bytes"], info["used_memory"]


def cost_of_request(server, client, address) -> tuple[int, int]:
    before = redis_counts(server)
    assert chat(client, address).status_code == 200
    after = redis_counts(server)
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.slow
def test_a_client_that_sent_50000_requests_costs_redis_what_a_fresh_one_costs(make_app, private_redis):
    app = make_app(RATELIMIT_STORAGE_URI=private_redis.url, RATE_LIMITS="1000000/hour")
    client = app.test_client()
    limits = app.extensions["rate_limits"]
    chat(client, "10.0.0.6")
    memory_before = redis_counts(private_redis)[2]
    for _ in range(50_000):
        limits.spend("10.0.0.7", None)
    memory_growth = redis_counts(private_redis)[2] - memory_before

    busy = cost_of_request(private_redis, client, "10.0.0.7")
    fresh = cost_of_request(private_redis, client, "10.0.0.8")

    assert busy[0] == fresh[0]  # the same Redis commands
    assert busy[1] <= fresh[1] + 16  # the same answer, the counts a few digits longer
    assert memory_growth < 100_000  # a list of one entry per request grew by ~2 MB here
