"""Command-line tools: `flask conversations|webhooks purge`, `flask faq check|ask`, `flask staff` (and `flask db`)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.services import faq_path, webhooks_service
from app.services.faq import FaqIndex
from app.services.faq_file import FaqFileError, load_faq_file
from app.staff_cli import staff_cli
from app.storage.models import utcnow

conversations_cli = AppGroup("conversations", help="Manage stored conversations.")
faq_cli = AppGroup("faq", help="Check the FAQ file and see how questions match it.")
webhooks_cli = AppGroup("webhooks", help="Manage the helpdesk webhook's outbox.")


def register_commands(app: Flask) -> None:
    """Add the project's commands to `flask`."""
    app.cli.add_command(conversations_cli)
    app.cli.add_command(faq_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(webhooks_cli)


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


@webhooks_cli.command("purge")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=0),
    default=None,
    help="Delete events delivered more than this many days ago (default: WEBHOOK_RETENTION_DAYS).",
)
def purge_webhooks(older_than_days: int | None) -> None:
    """Delete delivered webhook events past their retention (pending and failed ones stay)."""
    webhooks = webhooks_service()
    days = older_than_days if older_than_days is not None else webhooks.settings.retention_days
    deleted = webhooks.purge(days)
    click.echo(f"Deleted {deleted} delivered event{'s' if deleted != 1 else ''} older than {days} days.")


@faq_cli.command("check")
@click.argument("path", required=False)
def check(path: str | None) -> None:
    """Validate a FAQ file (default: FAQ_FILE); exit 1 naming the bad entry."""
    resolved = faq_path(current_app, path)
    try:
        knowledge_base = load_faq_file(resolved)
    except FaqFileError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(1) from None
    # The index builds from any valid file; fail here rather than at start-up if not.
    FaqIndex(knowledge_base.entries, knowledge_base.concepts)
    phrasings = sum(len(entry.phrasings) for entry in knowledge_base.entries)
    click.echo(
        f"OK: {len(knowledge_base.entries)} entries, {phrasings} phrasings, "
        f"{len(knowledge_base.concepts)} concepts in {resolved}"
    )


@faq_cli.command("ask")
@click.argument("question")
@click.option("--limit", default=5, show_default=True, help="How many matches to show.")
def ask(question: str, limit: int) -> None:
    """Show the FAQ entries that best match a question, their scores and what the chatbot would do."""
    index: FaqIndex = current_app.extensions["chatbot"].faq
    click.echo(
        f"thresholds: direct answer >= {index.match_threshold:.2f}, "
        f"related (grounding, fallback) >= {index.related_threshold:.2f}"
    )
    matches = [found for found in index.search(question, limit) if found.score > 0]
    for found in matches:
        passes = "direct" if found.score >= index.match_threshold else (
            "related" if found.score >= index.related_threshold else "none"
        )
        click.echo(f"{found.score:.3f}  {passes:<7}  {found.entry.id}: {found.entry.phrasings[0]}")
    click.echo(f"verdict: {verdict(index, question)}")


def verdict(index: FaqIndex, question: str) -> str:
    """Say in words what the chat service does with the question."""
    direct = index.match(question)
    if direct is not None:
        return f"answered from the FAQ ({direct.entry.id}), DeepSeek is not called"
    related = index.related(question)
    if not related:
        return "goes to DeepSeek without store facts; if DeepSeek fails, its error is returned"
    ids = ", ".join(found.entry.id for found in related)
    return f"goes to DeepSeek with store facts from {ids}; if DeepSeek fails, answered from {related[0].entry.id}"
