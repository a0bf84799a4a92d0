"""Command-line tools: `flask conversations|webhooks purge`, `flask faq check|ask|import|export`, `flask staff`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.services import chatbot_service, faq_path, knowledge_base_service, webhooks_service
from app.services.faq import FaqIndex
from app.services.faq_file import FaqFileError, faq_file_text, load_faq_file, write_faq_file
from app.staff_cli import staff_cli
from app.storage.models import utcnow

conversations_cli = AppGroup("conversations", help="Manage stored conversations.")
faq_cli = AppGroup("faq", help="Import, export and check FAQ files; see how questions match the knowledge base.")
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
    deleted = chatbot_service().store.purge(utcnow() - timedelta(days=days))
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


@contextmanager
def file_errors_reported() -> Iterator[None]:
    """Turn a FAQ file that cannot be read, written or validated into its message on stderr and exit status 1."""
    try:
        yield
    except FaqFileError as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(1) from None


@faq_cli.command("check")
@click.argument("path", required=False)
def check(path: str | None) -> None:
    """Validate a FAQ file (default: FAQ_FILE) without touching the database; exit 1 naming the bad entry."""
    resolved = faq_path(current_app, path)
    with file_errors_reported():
        knowledge_base = load_faq_file(resolved)
    # The index builds from any valid file; fail here rather than at import if not.
    FaqIndex(knowledge_base.entries, knowledge_base.concepts)
    phrasings = sum(len(entry.phrasings) for entry in knowledge_base.entries)
    click.echo(
        f"OK: {len(knowledge_base.entries)} entries, {phrasings} phrasings, "
        f"{len(knowledge_base.concepts)} concepts in {resolved}"
    )


@faq_cli.command("import")
@click.argument("path", required=False)
@click.option(
    "--merge",
    is_flag=True,
    help="Add the file's entries and concepts, replacing those with the same id or name, and keep the others "
    "(default: the knowledge base becomes exactly the file, as when restoring a backup).",
)
def import_file(path: str | None, merge: bool) -> None:
    """Load a FAQ file (default: FAQ_FILE) into the knowledge base; every instance answers with it within seconds."""
    resolved = faq_path(current_app, path)
    with file_errors_reported():
        knowledge_base = load_faq_file(resolved)
    summary = knowledge_base_service().load(knowledge_base, merge=merge)
    removed = "" if merge else f", {summary.removed} removed"
    click.echo(
        f"{'Merged' if merge else 'Imported'} {resolved}: {summary.added} entries added, {summary.replaced} replaced"
        f"{removed}; {len(knowledge_base.concepts)} concepts. Every instance answers with it within "
        f"{current_app.config['KB_REFRESH_SECONDS']:g} s."
    )


@faq_cli.command("export")
@click.argument("path")
def export_file(path: str) -> None:
    """Write the knowledge base to a FAQ file (.yaml, .yml or .json; "-" prints YAML); import it to restore."""
    knowledge_base = knowledge_base_service().export()
    if path == "-":
        click.echo(faq_file_text(knowledge_base), nl=False)
        return
    resolved = faq_path(current_app, path)
    with file_errors_reported():
        write_faq_file(resolved, knowledge_base)
    entries, concepts = len(knowledge_base.entries), len(knowledge_base.concepts)
    click.echo(f"Exported {entries} entries and {concepts} concepts to {resolved}.")


@faq_cli.command("ask")
@click.argument("question")
@click.option("--limit", default=5, show_default=True, help="How many matches to show.")
def ask(question: str, limit: int) -> None:
    """Show the knowledge base entries that best match a question, their scores and what the chatbot would do."""
    snapshot = knowledge_base_service().current()
    index = snapshot.index
    whole = chatbot_service().prompts.knowledge_base_block(snapshot)
    sent = "sent whole to DeepSeek" if whole is not None else "too large to send whole (KB_PROMPT_MAX_CHARS)"
    click.echo(f"knowledge base: version {snapshot.version}, {len(index)} entries, {sent}")
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
    click.echo(f"verdict: {verdict(index, question, whole_knowledge_base=whole is not None)}")


def verdict(index: FaqIndex, question: str, *, whole_knowledge_base: bool = False) -> str:
    """Say in words what the chat service does with the question."""
    direct = index.match(question)
    if direct is not None:
        return f"answered from the FAQ ({direct.entry.id}), DeepSeek is not called"
    related = index.related(question)
    if whole_knowledge_base:
        grounding = "with the whole knowledge base"
    elif related:
        grounding = f"with store facts from {', '.join(found.entry.id for found in related)}"
    else:
        grounding = "without store facts"
    fallback = f"answered from {related[0].entry.id}" if related else "its error is returned"
    return f"goes to DeepSeek {grounding}; if DeepSeek fails, {fallback}"
