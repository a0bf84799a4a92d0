"""Helpers for the staff tests: add an account through the CLI, and send its token."""

from __future__ import annotations

from click.testing import Result
from flask import Flask


def staff_command(app: Flask, *args: str) -> Result:
    """Run `flask staff ARGS...` against the app."""
    return app.test_cli_runner().invoke(args=["staff", *args])


def add_staff(app: Flask, name: str, role: str = "agent") -> str:
    """Add a staff account with `flask staff add` and return its token (the last line of stdout)."""
    result = staff_command(app, "add", name, "--role", role)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header that presents a token."""
    return {"Authorization": f"Bearer {token}"}
