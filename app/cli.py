"""Command-line tools: `flask conversations purge` (and Flask-Migrate's `flask db`)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.storage.models import utcnow

conversations_cli = AppGroup("conversations", help="Manage stored conversations.")


@conversations_cli.command("purge")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=0),
    default=None,
    help="Delete conversations with no message newer than this many days (default: CONVERSATION_RETENTION_DAYS).",
)
def purge_conversations(older_than_days: int | None) -> None:
    """Delete conversations nobody has written to for a while (retention)."""
    days = older_than_days if older_than_days is not None else current_app.config["CONVERSATION_RETENTION_DAYS"]
    deleted = current_app.extensions["chatbot"].store.purge(utcnow() - timedelta(days=days))
    click.echo(f"Deleted {deleted} conversation{'s' if deleted != 1 else ''} with no message in the last {days} days.")


def register_commands(app: Flask) -> None:
    """Add the project's commands to `flask`."""
    app.cli.add_command(conversations_cli)
