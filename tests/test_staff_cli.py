"""`flask staff add|list|revoke|rotate`, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from app.extensions import db
from app.services.staff_accounts import StaffAccountError
from tests.staff import add_staff, bearer, staff_command
from tests.support import read_log

pytestmark = pytest.mark.both_databases

TOKEN = re.compile(r"ggs_[A-Za-z0-9_-]{43}")
ROOT = Path(__file__).parent.parent


def stored_rows(app):
    with app.app_context():
        return [dict(row._mapping) for row in db.session.execute(text("SELECT * FROM staff_accounts ORDER BY id"))]


def me(app, token):
    return app.test_client().get("/api/v1/staff/me", headers=bearer(token))


def test_add_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(app):
    result = staff_command(app, "add", "Dana", "--role", "agent")

    assert result.exit_code == 0
    *notice, token = result.stdout.splitlines()
    assert TOKEN.fullmatch(token)
    assert result.stdout.count(token) == 1 and notice and token not in "\n".join(notice)
    [row] = stored_rows(app)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in row.values())
    assert (row["name"], row["role"], row["revoked_at"]) == ("Dana", "agent", None)


def test_every_token_is_new(app):
    tokens = {add_staff(app, f"Agent {n}") for n in range(5)}

    assert len(tokens) == 5


def test_the_token_works_at_once(app):
    token = add_staff(app, "Dana", "admin")

    response = me(app, token)

    assert response.status_code == 200
    assert response.get_json() == {"id": 1, "name": "Dana", "role": "admin"}


@pytest.mark.parametrize(
    ("given", "shown"),
    [("  Dana  ", "Dana"), ("Dana   K.", "Dana K."), ("Zoë", "Zoë"), ("Zoe\u0308", "Zoë"), ("D" * 64, "D" * 64)],
)
def test_names_are_trimmed_and_normalised(app, given, shown):
    token = add_staff(app, given)

    assert me(app, token).get_json()["name"] == shown


@pytest.mark.parametrize("taken", ["Dana", "dana", " DANA ", "DaNa"])
def test_a_name_is_taken_whatever_its_case(app, taken):
    add_staff(app, "Dana")

    result = staff_command(app, "add", taken, "--role", "admin")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: A staff account named 'Dana' already exists" in result.stderr
    assert len(stored_rows(app)) == 1


def test_a_revoked_name_stays_taken(app):
    add_staff(app, "Dana")
    staff_command(app, "revoke", "Dana")

    result = staff_command(app, "add", "Dana", "--role", "agent")

    assert result.exit_code == 1
    assert "already exists" in result.stderr


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("D" * 65, "at most 64"),
        ("Dana\tK", "no tabs"),
        ("Dana\nK", "no tabs, line breaks"),
        ("Da\u200bna", "invisible control characters"),  # zero-width space
        ("\u202eanaD", "invisible control characters"),  # right-to-left override
        ("Dana\x00", "invisible control characters"),
    ],
)
def test_bad_names_are_refused(app, name, reason):
    result = staff_command(app, "add", name, "--role", "agent")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and reason in result.stderr
    assert stored_rows(app) == []


@pytest.mark.parametrize("role", [["--role", "owner"], ["--role", ""], []])
def test_a_bad_or_missing_role_is_refused(app, role):
    result = staff_command(app, "add", "Dana", *role)

    assert result.exit_code == 2
    assert "--role" in result.stderr
    assert stored_rows(app) == []


def test_list_shows_every_account_and_no_secret(app):
    dana = add_staff(app, "Dana")
    boss = add_staff(app, "Sam Boss", "admin")
    staff_command(app, "revoke", "dana")

    result = staff_command(app, "list")

    assert result.exit_code == 0
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "ROLE", "CREATED", "REVOKED"]
    assert re.fullmatch(r"1\s+Dana\s+agent\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC", first)
    assert re.fullmatch(r"2\s+Sam Boss\s+admin\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+-", second)
    hashes = [row["token_hash"] for row in stored_rows(app)]
    assert not any(secret in result.output for secret in [dana, boss, *hashes])


def test_list_without_accounts_says_how_to_add_one(app):
    result = staff_command(app, "list")

    assert result.exit_code == 0
    assert result.stdout == "No staff accounts yet; add one with `flask staff add NAME --role agent|admin`.\n"


def test_revoke_kills_the_token_and_keeps_the_account(app):
    token = add_staff(app, "Dana")
    other = add_staff(app, "Sam")

    result = staff_command(app, "revoke", "DANA")

    assert result.exit_code == 0
    assert result.stdout == "Revoked Dana (agent, id 1); their token no longer works.\n"
    assert me(app, token).status_code == 401
    assert me(app, other).status_code == 200
    assert [row["revoked_at"] is not None for row in stored_rows(app)] == [True, False]


def test_revoking_twice_changes_nothing(app):
    add_staff(app, "Dana")
    staff_command(app, "revoke", "Dana")
    [before] = stored_rows(app)

    result = staff_command(app, "revoke", "Dana")

    assert result.exit_code == 0
    assert "was already revoked on " in result.stdout and result.stdout.endswith("; nothing changed.\n")
    assert stored_rows(app) == [before]


@pytest.mark.parametrize("command", ["revoke", "rotate"])
def test_an_unknown_name_is_an_error(app, command):
    add_staff(app, "Dana")

    result = staff_command(app, command, "Dan")

    assert result.exit_code == 1
    assert result.stderr == "Error: No staff account is named 'Dan'; `flask staff list` shows them all.\n"


def test_rotate_gives_a_new_token_and_kills_the_old_one(app):
    old = add_staff(app, "Dana", "admin")

    result = staff_command(app, "rotate", "dana")

    assert result.exit_code == 0
    new = result.stdout.splitlines()[-1]
    assert TOKEN.fullmatch(new) and new != old
    assert result.stdout.startswith("New token for Dana (admin, id 1); the old one no longer works.")
    assert me(app, old).status_code == 401
    assert me(app, new).get_json() == {"id": 1, "name": "Dana", "role": "admin"}
    [row] = stored_rows(app)
    assert row["token_hash"] == hashlib.sha256(new.encode()).hexdigest()


def test_a_revoked_account_cannot_be_rotated_back_to_life(app):
    token = add_staff(app, "Dana")
    staff_command(app, "revoke", "Dana")
    [before] = stored_rows(app)

    result = staff_command(app, "rotate", "Dana")

    assert result.exit_code == 1
    assert "revoked accounts stay revoked" in result.stderr
    assert result.stdout == ""
    assert stored_rows(app) == [before]
    assert me(app, token).status_code == 401


def test_the_commands_log_what_they_did_but_never_a_token(app, log_file):
    first = add_staff(app, "Dana")
    second = staff_command(app, "rotate", "Dana").stdout.splitlines()[-1]
    staff_command(app, "revoke", "Dana")

    events = [(line["event"], line["staff_name"]) for line in read_log(log_file) if line["event"].startswith("staff_")]
    assert events == [("staff_account_added", "Dana"), ("staff_token_rotated", "Dana"), ("staff_account_revoked", "Dana")]
    text_logged = log_file.read_text(encoding="utf-8")
    assert first not in text_logged and second not in text_logged


@pytest.mark.slow  # two new interpreters
def test_in_production_the_token_ends_stdout_after_the_json_log_lines(tmp_path):
    """Production logs JSON to stdout too: the token must still be alone on the last line, and in no log line."""
    env = {"PATH": "/usr/bin:/bin", "FLASK_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'staff.db'}"}

    def flask(*args):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)

    assert flask("db", "upgrade").returncode == 0
    result = flask("staff", "add", "Dana", "--role", "admin")

    assert result.returncode == 0, result.stderr
    *before, token = result.stdout.splitlines()
    assert TOKEN.fullmatch(token)
    logs = [json.loads(line) for line in before if line.startswith("{")]
    assert "staff_account_added" in [line["event"] for line in logs]
    assert token not in result.stdout[: -len(token) - 1] and token not in result.stderr


def test_the_service_refuses_an_unknown_role_too(app):
    """The CLI's choice list is not the only guard: a future caller of StaffAccounts.add gets an error too."""
    with app.app_context(), pytest.raises(StaffAccountError, match="Unknown role 'owner'; use one of agent, admin"):
        app.extensions["staff_accounts"].add("Dana", "owner")

    assert stored_rows(app) == []
