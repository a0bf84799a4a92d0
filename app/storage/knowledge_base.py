"""The FAQ knowledge base in the database: entries, phrasings, concepts, the version row, the hit history.

Every change runs in one transaction that first bumps the version row: concurrent
writers queue on that row, and any process that reads a newer version knows its index
is stale. Reads for the index use a connection of their own, returned to the pool at
once, so a check during a request never holds the request's connection open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Select, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.storage.models import FaqConcept, FaqPhrasing, FaqRecord, KnowledgeBaseVersion, Message, utcnow

ENTRIES = FaqRecord.__table__
PHRASINGS = FaqPhrasing.__table__
CONCEPTS = FaqConcept.__table__
VERSION = KnowledgeBaseVersion.__table__
MESSAGES = Message.__table__
VERSION_ROW = 1


class EntryContent(Protocol):
    """What an FAQ entry says: the fields the file and the staff API edit."""

    @property
    def id(self) -> str: ...
    @property
    def phrasings(self) -> Sequence[str]: ...
    @property
    def answer(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...


class ConceptContent(Protocol):
    """What a concept says: its name, its phrases and whether it is an aspect."""

    @property
    def name(self) -> str: ...
    @property
    def phrases(self) -> Sequence[str]: ...
    @property
    def aspect(self) -> bool: ...


@dataclass(frozen=True)
class EntryRecord:
    """An entry as stored: what it says, where it came from, when it was made and last changed."""

    id: str
    phrasings: tuple[str, ...]
    answer: str
    tags: tuple[str, ...]
    from_message_id: int | None
    from_conversation_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ConceptRecord:
    """A concept as stored."""

    name: str
    phrases: tuple[str, ...]
    aspect: bool


@dataclass(frozen=True)
class StoredKnowledgeBase:
    """Everything the index is built from, and the version it was read at (None: never seeded)."""

    version: int | None
    entries: list[EntryRecord]
    concepts: list[ConceptRecord]


@dataclass(frozen=True)
class Hits:
    """How often an entry answered (direct answers and fallbacks still stored) and when it last did."""

    count: int
    last_at: datetime | None


@dataclass(frozen=True)
class Question:
    """A stored message that may be promoted: its role, its (masked) text and its conversation."""

    id: int
    role: str
    content: str
    conversation_id: str


class KnowledgeBaseStore:
    """Keep the knowledge base; every write is one transaction that bumps the version, committed at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # Reads for the index, on a connection of their own.

    def version(self) -> int | None:
        """Return the current version, or None when the knowledge base was never seeded."""
        with self._own_connection() as connection:
            return connection.execute(select(VERSION.c.version)).scalar()

    def read(self) -> StoredKnowledgeBase:
        """Return every entry and concept, in their order, with the version they are at least as new as."""
        with self._own_connection() as connection:
            # The version first: data read after it is at least that new, so a change committed
            # in between is seen again (and rebuilt once more) rather than missed for good.
            version = connection.execute(select(VERSION.c.version)).scalar()
            entries = self._entries(connection, select(ENTRIES).order_by(ENTRIES.c.position, ENTRIES.c.id), every=True)
            concepts = [
                ConceptRecord(row.name, tuple(row.phrases), bool(row.aspect))
                for row in connection.execute(select(CONCEPTS).order_by(CONCEPTS.c.position, CONCEPTS.c.name))
            ]
        return StoredKnowledgeBase(version, entries, concepts)

    def _own_connection(self) -> Connection:
        return self.session.get_bind().connect()

    # Reads for the staff API, in the request's session.

    def page(self, search: str, offset: int, limit: int) -> tuple[list[EntryRecord], int]:
        """Return a page of entries in their order, matching `search` (id, phrasing or answer; any case), and the total."""
        matching = select(ENTRIES)
        if search:
            in_phrasings = select(PHRASINGS.c.entry_id).where(PHRASINGS.c.text.icontains(search, autoescape=True))
            matching = matching.where(
                or_(
                    ENTRIES.c.id.icontains(search, autoescape=True),
                    ENTRIES.c.answer.icontains(search, autoescape=True),
                    ENTRIES.c.id.in_(in_phrasings),
                )
            )
        connection = self.session.connection()
        total = connection.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
        ordered = matching.order_by(ENTRIES.c.position, ENTRIES.c.id).offset(offset).limit(limit)
        entries = self._entries(connection, ordered)
        self.session.rollback()  # end the read-only transaction: nothing holds the connection afterwards
        return entries, total

    def get(self, entry_id: str) -> EntryRecord | None:
        """Return the entry with this id, or None."""
        connection = self.session.connection()
        found = self._entries(connection, select(ENTRIES).where(ENTRIES.c.id == entry_id))
        self.session.rollback()
        return found[0] if found else None

    def ids_starting(self, prefix: str) -> set[str]:
        """Return the ids taken that start with `prefix` (to make a new id unique)."""
        query = select(ENTRIES.c.id).where(ENTRIES.c.id.startswith(prefix, autoescape=True))
        taken = set(self.session.connection().execute(query).scalars())
        self.session.rollback()
        return taken

    def hits(self, entry_ids: Iterable[str]) -> dict[str, Hits]:
        """Return each entry's hits from the stored answers (one grouped query); entries never hit are left out."""
        ids = list(entry_ids)
        if not ids:
            return {}
        query = (
            select(MESSAGES.c.faq_id, func.count(), func.max(MESSAGES.c.created_at))
            .where(MESSAGES.c.faq_id.in_(ids))
            .group_by(MESSAGES.c.faq_id)
        )
        found = {faq_id: Hits(int(count), last) for faq_id, count, last in self.session.execute(query)}
        self.session.rollback()
        return found

    def question(self, message_id: int) -> Question | None:
        """Return a stored message with its conversation, or None."""
        query = select(MESSAGES.c.id, MESSAGES.c.role, MESSAGES.c.content, MESSAGES.c.conversation_id).where(
            MESSAGES.c.id == message_id
        )
        row = self.session.connection().execute(query).first()
        self.session.rollback()
        return Question(row.id, row.role, row.content, row.conversation_id) if row is not None else None

    # Writes: each one transaction, the version bumped first.

    def seed(self, entries: Sequence[EntryContent], concepts: Sequence[ConceptContent]) -> bool:
        """Fill a never-seeded knowledge base; return False when it already was (another process won the race).

        The version row is inserted first: a second seeder's INSERT waits for the first
        transaction and then fails on the primary key, so exactly one seeds.
        """
        connection = self.session.connection()
        try:
            connection.execute(insert(VERSION).values(id=VERSION_ROW, version=1, changed_at=utcnow()))
            self._write_entries(connection, entries, utcnow(), start=0)
            self._write_concepts(connection, concepts)
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            return False
        return True

    def add(self, entry: EntryContent, source: Question | None = None) -> bool:
        """Append an entry (linked to the question it was promoted from, if any); False when its id is taken."""
        connection = self._begin_change()  # writers queue here, so the check below holds until the commit
        if connection.execute(select(ENTRIES.c.id).where(ENTRIES.c.id == entry.id)).first() is not None:
            self.session.rollback()
            return False
        position = connection.execute(select(func.coalesce(func.max(ENTRIES.c.position) + 1, 0))).scalar_one()
        self._write_entries(connection, [entry], utcnow(), start=position, source=source)
        self.session.commit()
        return True

    def update(self, entry: EntryContent) -> bool:
        """Replace what an entry says, keeping its place and link; False when there is no such entry."""
        connection = self._begin_change()
        values = {"answer": entry.answer, "tags": list(entry.tags), "updated_at": utcnow()}
        if not connection.execute(update(ENTRIES).where(ENTRIES.c.id == entry.id).values(**values)).rowcount:
            self.session.rollback()
            return False
        self._write_phrasings(connection, [entry])
        self.session.commit()
        return True

    def delete(self, entry_id: str) -> bool:
        """Delete an entry and its phrasings (its hit history stays on the answers); False when there is none."""
        connection = self._begin_change()
        connection.execute(delete(PHRASINGS).where(PHRASINGS.c.entry_id == entry_id))
        if not connection.execute(delete(ENTRIES).where(ENTRIES.c.id == entry_id)).rowcount:
            self.session.rollback()
            return False
        self.session.commit()
        return True

    def replace(self, entries: Sequence[EntryContent], concepts: Sequence[ConceptContent]) -> None:
        """Make the knowledge base exactly these entries and concepts, in this order.

        Entries whose id stays keep their creation time, their link and their hit history.
        """
        connection = self._begin_change()
        keep = [entry.id for entry in entries]
        connection.execute(delete(PHRASINGS).where(PHRASINGS.c.entry_id.not_in(keep)))
        connection.execute(delete(ENTRIES).where(ENTRIES.c.id.not_in(keep)))
        self._upsert_entries(connection, entries, keep_places=False)
        connection.execute(delete(CONCEPTS))
        self._write_concepts(connection, concepts)
        self.session.commit()

    def merge(self, entries: Sequence[EntryContent], concepts: Sequence[ConceptContent]) -> None:
        """Add these entries and concepts, replacing those with the same id or name; keep all others.

        An entry or concept already there keeps its place; new ones follow the last, in this order.
        """
        connection = self._begin_change()
        self._upsert_entries(connection, entries, keep_places=True)
        names = [concept.name for concept in concepts]
        places = dict(
            connection.execute(select(CONCEPTS.c.name, CONCEPTS.c.position).where(CONCEPTS.c.name.in_(names))).all()
        )
        next_place = connection.execute(select(func.coalesce(func.max(CONCEPTS.c.position) + 1, 0))).scalar_one()
        connection.execute(delete(CONCEPTS).where(CONCEPTS.c.name.in_(names)))
        new_places = iter(range(next_place, next_place + len(concepts)))
        self._write_concepts(connection, concepts, [places[name] if name in places else next(new_places) for name in names])
        self.session.commit()

    def _begin_change(self) -> Connection:
        """Start a change: bump the version (inserting the row if it is missing) and return the connection."""
        connection = self.session.connection()
        bumped = update(VERSION).where(VERSION.c.id == VERSION_ROW)
        if not connection.execute(bumped.values(version=VERSION.c.version + 1, changed_at=utcnow())).rowcount:
            connection.execute(insert(VERSION).values(id=VERSION_ROW, version=1, changed_at=utcnow()))
        return connection

    def _upsert_entries(self, connection: Connection, entries: Sequence[EntryContent], *, keep_places: bool) -> None:
        """Update the entries that exist, insert the others; all in the given order.

        With `keep_places` an entry that exists keeps its place and new ones follow the last;
        without, the entries take places 0, 1, 2... in the given order.
        """
        ids = [entry.id for entry in entries]
        existing = dict(connection.execute(select(ENTRIES.c.id, ENTRIES.c.position).where(ENTRIES.c.id.in_(ids))).all())
        next_place = connection.execute(select(func.coalesce(func.max(ENTRIES.c.position) + 1, 0))).scalar_one()
        now = utcnow()
        for number, entry in enumerate(entries):
            if keep_places:
                place = existing[entry.id] if entry.id in existing else next_place
                next_place += entry.id not in existing
            else:
                place = number
            if entry.id in existing:
                values = {"answer": entry.answer, "tags": list(entry.tags), "updated_at": now, "position": place}
                connection.execute(update(ENTRIES).where(ENTRIES.c.id == entry.id).values(**values))
            else:
                self._write_entries(connection, [entry], now, start=place, phrasings=False)
        self._write_phrasings(connection, entries)

    def _write_entries(
        self,
        connection: Connection,
        entries: Sequence[EntryContent],
        now: datetime,
        *,
        start: int,
        source: Question | None = None,
        phrasings: bool = True,
    ) -> None:
        """INSERT entries from position `start` on (and, unless told not to, their phrasings)."""
        connection.execute(
            insert(ENTRIES),
            [
                {
                    "id": entry.id,
                    "position": start + number,
                    "answer": entry.answer,
                    "tags": list(entry.tags),
                    "from_message_id": source.id if source else None,
                    "from_conversation_id": source.conversation_id if source else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for number, entry in enumerate(entries)
            ],
        )
        if phrasings:
            self._write_phrasings(connection, entries)

    def _write_phrasings(self, connection: Connection, entries: Sequence[EntryContent]) -> None:
        """Replace the phrasings of these entries (at least one, each with its phrasings) with theirs, in order."""
        connection.execute(delete(PHRASINGS).where(PHRASINGS.c.entry_id.in_([entry.id for entry in entries])))
        rows = [
            {"entry_id": entry.id, "position": number, "text": text}
            for entry in entries
            for number, text in enumerate(entry.phrasings)
        ]
        connection.execute(insert(PHRASINGS), rows)

    def _write_concepts(
        self, connection: Connection, concepts: Sequence[ConceptContent], positions: Sequence[int] | None = None
    ) -> None:
        """INSERT concepts at the given positions (default: 0, 1, 2, ...)."""
        if not concepts:
            return
        places = positions if positions is not None else range(len(concepts))
        connection.execute(
            insert(CONCEPTS),
            [
                {"name": concept.name, "position": place, "phrases": list(concept.phrases), "aspect": concept.aspect}
                for concept, place in zip(concepts, places)
            ],
        )

    def _entries(self, connection: Connection, query: Select, *, every: bool = False) -> list[EntryRecord]:
        """Run a query of entry rows and return them as records, with their phrasings in order.

        `every`: the query reads every entry, so every phrasing is read without naming the ids.
        """
        rows = list(connection.execute(query))
        if not rows:
            return []
        phrasings: dict[str, list[str]] = {}
        lookup = select(PHRASINGS.c.entry_id, PHRASINGS.c.text).order_by(PHRASINGS.c.entry_id, PHRASINGS.c.position)
        if not every:
            lookup = lookup.where(PHRASINGS.c.entry_id.in_([row.id for row in rows]))
        for entry_id, text in connection.execute(lookup):
            phrasings.setdefault(entry_id, []).append(text)
        return [
            EntryRecord(
                id=row.id,
                phrasings=tuple(phrasings.get(row.id, ())),
                answer=row.answer,
                tags=tuple(row.tags),
                from_message_id=row.from_message_id,
                from_conversation_id=row.from_conversation_id,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]
