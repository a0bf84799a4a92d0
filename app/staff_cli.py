"""`flask staff add|list|revoke|rotate`: the accounts of support agents and admins, and their tokens.

A token is printed once, alone on the last line of stdout (`| tail -n 1` gets it);
only its hash is stored, so a lost token is replaced with `rotate`, not recovered.
Errors go to stderr with exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click
from flask.cli import AppGroup

from app.services import staff_accounts_service
from app.services.staff_accounts import ROLES, StaffAccountError
from app.storage.models import StaffAccount

staff_cli = AppGroup("staff", help="Manage staff accounts (support agents and admins) and their tokens.")

TOKEN_NOTICE = "Hand it over privately. It is shown only this once (only its hash is stored); it follows alone:"


@contextmanager
def refusals_reported() -> Iterator[None]:
    """Turn a refused change (a name taken, unknown, revoked...) into its message on stderr and exit status 1."""
    try:
        yield
    except StaffAccountError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(1) from None


def print_token(headline: str, token: str) -> None:
    """Say what happened, then print the token alone on the last line."""
    click.echo(f"{headline} {TOKEN_NOTICE}")
    click.echo(token)


def describe(account: StaffAccount) -> str:
    """Name an account in a sentence: "Dana (agent, id 3)"."""
    return f"{account.name} ({account.role}, id {account.id})"


def when(moment: datetime | None) -> str:
    """Format a stored timestamp for a person, in UTC; "-" for none."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


@staff_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="agent: answers customers; admin: also manages.")
def add(name: str, role: str) -> None:
    """Create a staff account; NAME is what customers see ("Dana joined"). Prints the token last."""
    with refusals_reported():
        account, token = staff_accounts_service().add(name, role)
    print_token(f"Added {describe(account)}.", token)


@staff_cli.command("list")
def list_accounts() -> None:
    """List every staff account, revoked ones included (never tokens)."""
    accounts = staff_accounts_service().accounts()
    if not accounts:
        click.echo("No staff accounts yet; add one with `flask staff add NAME --role agent|admin`.")
        return
    rows = [("ID", "NAME", "ROLE", "CREATED", "REVOKED")] + [
        (str(account.id), account.name, account.role, when(account.created_at), when(account.revoked_at))
        for account in accounts
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@staff_cli.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke an account: its token fails from the next request on, on every instance."""
    with refusals_reported():
        account, revoked = staff_accounts_service().revoke(name)
    if revoked:
        click.echo(f"Revoked {describe(account)}; their token no longer works.")
    else:
        click.echo(f"{describe(account)} was already revoked on {when(account.revoked_at)}; nothing changed.")


@staff_cli.command("rotate")
@click.argument("name")
def rotate(name: str) -> None:
    """Give an account a new token; the old one fails from the next request on. Prints the token last."""
    with refusals_reported():
        account, token = staff_accounts_service().rotate(name)
    print_token(f"New token for {describe(account)}; the old one no longer works.", token)
