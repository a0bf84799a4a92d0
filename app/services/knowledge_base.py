"""The live knowledge base: FAQ entries and concepts kept in the database, and the index built from them.

`current()` returns the snapshot every answer is matched against: the knowledge base, its
FaqIndex and the version it was read at. A process checks the version row at most every
KB_REFRESH_SECONDS and, when another process (a staff edit, `flask faq import`) has changed
it, reads the knowledge base again, builds a new index and swaps it in whole; requests
meanwhile keep the snapshot they hold. A change therefore answers customers on every
worker of every instance within KB_REFRESH_SECONDS (plus the time to rebuild), and at once
on the process that made it.

An empty database is seeded from FAQ_FILE on first use; the seeding transaction inserts
the version row, so when several processes start at once exactly one seeds.
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from app.errors import FaqIdTaken, FaqNotFound, InvalidFaqEntry, MessageNotFound
from app.services.faq import FaqEntry, FaqIndex, KnowledgeBase
from app.services.faq_file import FaqEntryError, parse_entry
from app.services.faq_text import Concept
from app.storage.knowledge_base import EntryRecord, Hits, KnowledgeBaseStore, Question, StoredKnowledgeBase

log = structlog.get_logger(__name__)

NO_HITS = Hits(0, None)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
ID_STEM_CHARS = 48  # room left for "-2", "-3"... within the 64 characters of an id


@dataclass(frozen=True)
class KnowledgeSnapshot:
    """One version of the knowledge base and the index built from it; never changed once built."""

    version: int | None
    knowledge_base: KnowledgeBase
    index: FaqIndex


@dataclass(frozen=True)
class ListedEntry:
    """An entry as staff see it: what it says and where it came from, with its hit count and last hit."""

    record: EntryRecord
    hits: Hits


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: entries added, entries replaced (same id), entries removed (replace only)."""

    added: int
    replaced: int
    removed: int


@dataclass(frozen=True)
class EntryPage:
    """A page of entries matching a search, and how many match in all."""

    entries: list[ListedEntry]
    total: int


class KnowledgeBaseService:
    """Keep the FAQ index in step with the database, and make every change to the knowledge base."""

    def __init__(
        self,
        store: KnowledgeBaseStore,
        seed: KnowledgeBase,
        *,
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.seed = seed
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._snapshot: KnowledgeSnapshot | None = None
        self._checked_at = -math.inf
        self._lock = threading.Lock()

    def current(self) -> KnowledgeSnapshot:
        """Return the current snapshot, checking the database's version first if the last check is old enough."""
        snapshot = self._snapshot
        if snapshot is not None and not self._due():
            return snapshot
        # One thread checks; the others keep answering from the snapshot they have (the first load waits).
        if not self._lock.acquire(blocking=snapshot is None):
            return snapshot  # type: ignore[return-value]  (not None: the acquire only fails when non-blocking)
        try:
            if self._snapshot is None or self._due():
                self._refresh()
            assert self._snapshot is not None
            return self._snapshot
        finally:
            self._lock.release()

    def _due(self) -> bool:
        return self._clock() - self._checked_at >= self.refresh_seconds

    def _refresh(self) -> None:
        """Load the knowledge base if the database holds a version other than ours; seed it if it holds none."""
        try:
            version = self.store.version()
            if version is None:
                self._seed()
            if self._snapshot is None or version is None or version != self._snapshot.version:
                self._snapshot = self._build(self.store.read())
        except Exception as error:
            if self._snapshot is None:
                raise
            log.warning("knowledge_base_check_failed", error_type=type(error).__name__, version=self._snapshot.version)
        self._checked_at = self._clock()

    def _seed(self) -> None:
        if self.store.seed(self.seed.entries, tuple(self.seed.concepts)):
            log.info("knowledge_base_seeded", entries=len(self.seed.entries), concepts=len(self.seed.concepts))

    def _build(self, stored: StoredKnowledgeBase) -> KnowledgeSnapshot:
        started = time.perf_counter()
        knowledge_base = as_knowledge_base(stored)
        snapshot = KnowledgeSnapshot(stored.version, knowledge_base, FaqIndex(knowledge_base.entries, knowledge_base.concepts))
        log.info(
            "knowledge_base_loaded",
            version=stored.version,
            entries=len(knowledge_base.entries),
            concepts=len(knowledge_base.concepts),
            build_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return snapshot

    def changed(self) -> None:
        """Check the version on the next use: this process made a change and answers with it at once."""
        self._checked_at = -math.inf

    # What staff see.

    def page(self, search: str = "", page: int = 1, per_page: int = 50) -> EntryPage:
        """Return a page of entries in their order (those matching `search`), each with its hits."""
        self.current()  # an unseeded database is seeded before anyone lists it
        records, total = self.store.page(search, (page - 1) * per_page, per_page)
        return EntryPage(self._with_hits(records), total)

    def entry(self, entry_id: str) -> ListedEntry:
        """Return one entry with its hits; FaqNotFound if there is none."""
        self.current()
        record = self.store.get(entry_id)
        if record is None:
            raise FaqNotFound()
        return self._with_hits([record])[0]

    def _with_hits(self, records: list[EntryRecord]) -> list[ListedEntry]:
        hits = self.store.hits(record.id for record in records)
        return [ListedEntry(record, hits.get(record.id, NO_HITS)) for record in records]

    # Changes, each seen by every process within KB_REFRESH_SECONDS.

    def create(self, fields: Mapping[str, Any], from_message_id: int | None = None) -> ListedEntry:
        """Add an entry from validated-as-the-file fields; promoted from a customer's question if given.

        The question (as stored, masked) becomes the first phrasing and the entry keeps a
        link to it. Without an id, one is made from the first phrasing.
        """
        self.current()
        fields = dict(fields)
        source = self._question(from_message_id) if from_message_id is not None else None
        if source is not None:
            given = fields.get("phrasings", [])
            if isinstance(given, list):
                fields["phrasings"] = [source.content, *[text for text in given if text != source.content]]
        generated = "id" not in fields
        for _ in range(3):  # a generated id taken meanwhile by another admin: make the next one
            if generated:
                fields["id"] = self._new_id(fields.get("phrasings"))
            entry = _parsed(fields)
            if self.store.add(entry, source):
                self.changed()
                log.info("faq_created", faq_id=entry.id, from_message_id=from_message_id)
                return self.entry(entry.id)
            if not generated:
                break
        raise FaqIdTaken()

    def update(self, entry_id: str, fields: Mapping[str, Any]) -> ListedEntry:
        """Replace what an entry says (phrasings, answer, tags); FaqNotFound if there is none."""
        self.current()
        if "id" in fields and fields["id"] != entry_id:
            raise InvalidFaqEntry("id", "must be the id in the address (an entry cannot be renamed)")
        if not self.store.update(_parsed({**fields, "id": entry_id})):
            raise FaqNotFound()
        self.changed()
        log.info("faq_updated", faq_id=entry_id)
        return self.entry(entry_id)

    def delete(self, entry_id: str) -> None:
        """Delete an entry (its hit history stays on the stored answers); FaqNotFound if there is none."""
        self.current()
        if not self.store.delete(entry_id):
            raise FaqNotFound()
        self.changed()
        log.info("faq_deleted", faq_id=entry_id)

    def load(self, knowledge_base: KnowledgeBase, *, merge: bool = False) -> ImportSummary:
        """Import a knowledge base: replace the current one (entries and concepts), or merge into it.

        Replacing fills a never-seeded database without seeding it first (a restore); merging
        adds to the seed there. Entries that stay keep their link and hit history.
        """
        FaqIndex(knowledge_base.entries, knowledge_base.concepts)  # fail before the database is touched
        if merge:
            self.current()  # a merge adds to what customers get, so to the seed if nothing else is there yet
        before = {entry.id for entry in self.store.read().entries}
        if merge:
            self.store.merge(knowledge_base.entries, knowledge_base.concepts)
        else:
            self.store.replace(knowledge_base.entries, knowledge_base.concepts)
        self.changed()
        loaded = {entry.id for entry in knowledge_base.entries}
        summary = ImportSummary(
            added=len(loaded - before), replaced=len(loaded & before), removed=0 if merge else len(before - loaded)
        )
        log.info("knowledge_base_imported", merge=merge, **asdict(summary))
        return summary

    def export(self) -> KnowledgeBase:
        """Return the knowledge base as the database holds it now."""
        self.current()
        return as_knowledge_base(self.store.read())

    def _question(self, message_id: int) -> Question:
        """Return the customer question to promote; MessageNotFound, or InvalidFaqEntry for another kind of message."""
        question = self.store.question(message_id)
        if question is None:
            raise MessageNotFound()
        if question.role != "user":
            raise InvalidFaqEntry("from_message_id", "must be a customer's question (a user message), not an answer")
        return question

    def _new_id(self, phrasings: Any) -> str:
        """Return an unused id made from the first phrasing ("Do you sell kale?" -> "do-you-sell-kale")."""
        first = phrasings[0] if isinstance(phrasings, list) and phrasings and isinstance(phrasings[0], str) else ""
        stem = slug(first) or "faq"
        taken = self.store.ids_starting(stem)
        if stem not in taken:
            return stem
        return next(f"{stem}-{number}" for number in range(2, len(taken) + 3) if f"{stem}-{number}" not in taken)


def as_knowledge_base(stored: StoredKnowledgeBase) -> KnowledgeBase:
    """Return what the database holds as the entries and concepts an index is built from."""
    return KnowledgeBase(
        entries=tuple(FaqEntry(e.id, e.phrasings, e.answer, e.tags) for e in stored.entries),
        concepts=tuple(Concept(c.name, c.phrases, c.aspect) for c in stored.concepts),
    )


def slug(text: str) -> str:
    """Return text as an id: ASCII letters and digits, lower case, runs of anything else as one dash."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words = _NOT_SLUG.sub("-", ascii_text).strip("-")
    if len(words) > ID_STEM_CHARS:
        words = words[:ID_STEM_CHARS].rsplit("-", 1)[0] if "-" in words[:ID_STEM_CHARS] else words[:ID_STEM_CHARS]
    return words.strip("-")


def _parsed(fields: Mapping[str, Any]) -> FaqEntry:
    """Return the entry the fields describe; InvalidFaqEntry naming the field otherwise."""
    try:
        return parse_entry(fields)
    except FaqEntryError as error:
        raise InvalidFaqEntry(error.field, error.problem) from None
